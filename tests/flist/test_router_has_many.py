"""Router.has_many against real stores: each zero-db namespace asked in one pipelined batch,
a store without a batch call block by block, and the answer the same as asking has() for
every block (ranges split between stores, a range replicated on two)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from zeroos.flist.models import Route
from zeroos.flist.stores import Router, has_many


def test_has_many_agrees_with_has_across_routes(zdb_url: Callable[[], str], tmp_path: Path) -> None:
    low, high, copy = zdb_url(), zdb_url(), f"dir://{tmp_path / 'copy'}"
    routes = [Route(0x00, 0x7F, low), Route(0x80, 0xFF, high), Route(0x00, 0xFF, copy)]
    router = Router(routes, timeout=10)
    try:
        ids = [os.urandom(32) for _ in range(2500)]
        for n, block in enumerate(ids):
            if n % 3 == 0:
                router.put(block, b"sealed")  # on its zero-db and on the copy
            elif n % 3 == 1:
                router.store(low if block[0] < 0x80 else high).put(block, b"sealed")
        asked = ids + ids[:5]  # a block asked twice is answered twice
        expected = [router.has(block) for block in asked]
        assert expected.count(True) == 834 + 2  # only blocks on both of their stores
        assert has_many(router, asked) == expected
        assert has_many(router, []) == []
    finally:
        router.close()
