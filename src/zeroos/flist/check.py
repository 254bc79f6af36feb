"""Checking that every block of an flist is in its stores and intact, and repairing.

Each block is read from every store its route names (a range listed twice is a replica).
Repair rewrites a missing or damaged copy from an intact one, and asks a zero-stor store to
rebuild lost shards; a block with no intact copy anywhere stays lost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import blocks
from .errors import BlockError, StoreUnavailable
from .format import Flist
from .models import BlockRef
from .stores import BlockStore, Router, ZstorStore, flist_routes


@dataclass
class CheckReport:
    """Per-block verdicts: ``problems`` lines name the block, the store and what is wrong."""

    blocks: int = 0
    ok: int = 0
    repaired: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def _probe(store: BlockStore, ref: BlockRef) -> str | None:
    """None when the store holds the block intact, else what is wrong (one phrase)."""
    try:
        blocks.decode(ref, store.get(ref.id))
        if isinstance(store, ZstorStore):  # readable, but maybe from fewer shards than due
            return store.health(ref.id)
    except (StoreUnavailable, BlockError) as exc:
        return str(exc)
    return None


def check(
    path: str,
    *,
    repair: bool = False,
    store_urls: list[str] | None = None,
    workers: int = 8,
    timeout: float = 10.0,
    progress: Callable[[int], None] | None = None,
) -> CheckReport:
    """Read and verify every distinct block of the flist in every store that should hold it."""
    report = CheckReport()
    with Flist.open(path) as fl:
        refs = {ref.id: ref for _, ref in fl.all_blocks()}
        routes = flist_routes(fl, store_urls)
    router = Router(routes, timeout=timeout)

    def one(ref: BlockRef) -> tuple[bool, bool, list[str]]:
        urls = list(dict.fromkeys(r.url for r in routes if r.matches(ref.id[0])))
        if not urls:
            return False, False, [f"block {ref.id.hex()}: no route serves it"]
        verdicts = {u: _probe(router.store(u), ref) for u in urls}
        bad = {u: v for u, v in verdicts.items() if v is not None}
        if not bad:
            return True, False, []
        if repair:
            good = [u for u, v in verdicts.items() if v is None]
            for url in list(bad):
                store = router.store(url)
                if isinstance(store, ZstorStore):
                    # a lost copy here may be rebuilt from the other shards
                    with contextlib.suppress(BlockError, StoreUnavailable):
                        store.repair(ref.id)
                if good and _probe(store, ref) is not None:
                    try:
                        store.put(ref.id, router.store(good[0]).get(ref.id))
                    except (BlockError, StoreUnavailable):
                        continue
                if _probe(store, ref) is None:
                    del bad[url]
            if not bad:
                return True, True, []
        return False, False, [f"{v} [{u}]" if u not in v else v for u, v in bad.items()]

    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="flist-check") as pool:
            for ok, repaired, problems in pool.map(one, refs.values()):
                report.blocks += 1
                report.ok += ok
                report.repaired += repaired
                report.problems.extend(problems)
                if progress is not None:
                    progress(1)
    finally:
        router.close()
    return report
