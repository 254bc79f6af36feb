"""The mount's block path without FUSE: cache, verification, deadlines, bounds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zeroos.flist.blocks import encode, unseal
from zeroos.flist.errors import BlockError, StoreUnavailable
from zeroos.flist.models import BlockRef
from zeroos.flist.mount.cache import BlockCache
from zeroos.flist.mount.reader import BlockReader
from zeroos.flist.stores import open_store


def _stored(tmp_path: Path, count: int, size: int = 1000) -> tuple[list[BlockRef], list[bytes]]:
    store = open_store(f"dir://{tmp_path}/store")
    refs, plains = [], []
    for _ in range(count):
        plain = os.urandom(size)
        ref, sealed = encode(plain)
        store.put(ref.id, sealed)
        refs.append(ref)
        plains.append(plain)
    return refs, plains


def test_tampered_bytes_are_refused_without_the_key_check(tmp_path: Path) -> None:
    ref, sealed = encode(b"a block of a file" * 100)
    flipped = bytearray(sealed)
    flipped[5] ^= 1
    with pytest.raises(BlockError, match="do not match the block's id"):
        unseal(ref, bytes(flipped))
    # bytes that match the id but not the key: AES-GCM's tag refuses them
    with pytest.raises(BlockError, match="cannot be decrypted"):
        unseal(BlockRef(ref.id, bytes(32)), sealed)
    assert unseal(ref, sealed) == b"a block of a file" * 100


def test_a_corrupt_cached_block_is_dropped_and_fetched_again(tmp_path: Path) -> None:
    refs, plains = _stored(tmp_path, 2)
    cache = BlockCache(tmp_path / "cache", 1 << 20)
    reader = BlockReader(open_store(f"dir://{tmp_path}/store"), cache, timeout=10)
    try:
        assert reader.read(refs[0]) == plains[0]
        assert reader.flush(10)
        cached = cache.get(refs[0].id)
        assert cached is not None
        cache.put(refs[1].id, cached)  # the wrong bytes under the second block's id
        assert reader.read(refs[1]) == plains[1]
        assert reader.flush(10)
        assert cache.get(refs[1].id) != cached  # replaced by the store's good copy
    finally:
        reader.close()


def test_a_corrupt_stored_block_fails_and_is_not_cached(tmp_path: Path) -> None:
    refs, _ = _stored(tmp_path, 1)
    path = next(p for p in (tmp_path / "store").rglob("*") if p.is_file())
    path.write_bytes(b"rotten" + path.read_bytes()[6:])
    cache = BlockCache(tmp_path / "cache", 1 << 20)
    reader = BlockReader(open_store(f"dir://{tmp_path}/store"), cache, timeout=10)
    try:
        with pytest.raises(BlockError):
            reader.read(refs[0])
        assert cache.get(refs[0].id) is None
    finally:
        reader.close()


class _SlowStore:
    """A store that answers after `delay` seconds (a store that stopped answering)."""

    url = "slow://test"

    def __init__(self, delay: float, inner: object) -> None:
        self.delay = delay
        self.inner = inner

    def get(self, id: bytes) -> bytes:
        time.sleep(self.delay)
        return self.inner.get(id)  # type: ignore[attr-defined, no-any-return]

    def put(self, id: bytes, data: bytes) -> None:
        raise NotImplementedError

    def has(self, id: bytes) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        pass


def test_a_read_gives_up_at_its_deadline_and_a_later_read_succeeds(tmp_path: Path) -> None:
    refs, plains = _stored(tmp_path, 1)
    store = _SlowStore(3.0, open_store(f"dir://{tmp_path}/store"))
    reader = BlockReader(store, BlockCache(tmp_path / "cache", 1 << 20), timeout=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=r"slow://test within 0\.5s"):
            reader.read(refs[0])
        assert time.monotonic() - started < 2.5
        store.delay = 0
        deadline = time.monotonic() + 30
        while True:  # the slow fetch still finishes (and is kept), or a new one is made
            try:
                assert reader.read(refs[0]) == plains[0]
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline
    finally:
        reader.close()


_PUT_MANY = """
import os, sys
from pathlib import Path
from zeroos.flist.mount.cache import BlockCache
cache = BlockCache(Path(sys.argv[1]), int(sys.argv[2]))
for i in range(200):
    block_id = (i % 120).to_bytes(2, "big") * 16
    cache.put(block_id, block_id * 64)
    got = cache.get(block_id)
    if got is not None and got != block_id * 64:
        sys.exit("a torn block")
"""


def test_processes_sharing_a_cache_see_whole_blocks_and_keep_its_bound(tmp_path: Path) -> None:
    bound = 40 * 2048
    procs = [
        subprocess.Popen([sys.executable, "-c", _PUT_MANY, str(tmp_path / "c"), str(bound)])
        for _ in range(3)
    ]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    cache = BlockCache(tmp_path / "c", bound)
    assert 0 < cache.size() <= bound
    leftovers = [p for p in (tmp_path / "c").rglob(".*") if p.name != ".size"]
    assert leftovers == []  # no temporary files left behind


def test_a_block_put_after_the_cache_closed_touches_nothing(tmp_path: Path) -> None:
    # an unmount closes the cache without waiting for fetches still running: their blocks
    # stay out, and the size file's old descriptor number (maybe another file's by then) is
    # not written
    cache = BlockCache(tmp_path / "cache", 1 << 20)
    cache.close()
    other = tmp_path / "other"
    other.write_bytes(b"x" * 64)
    with other.open("r+b"):  # likely takes the number the size file had
        ref, sealed = encode(b"late block")
        cache.put(ref.id, sealed)
    assert other.read_bytes() == b"x" * 64
    reopened = BlockCache(tmp_path / "cache", 1 << 20)
    assert reopened.get(ref.id) is None
    assert [p for p in (tmp_path / "cache").rglob(".*") if p.name != ".size"] == []
    reopened.close()
