"""The mount's block path without FUSE: cache, verification, deadlines, bounds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from zeroos.flist.blocks import encode, unseal
from zeroos.flist.errors import BlockError, StoreUnavailable
from zeroos.flist.models import BlockRef
from zeroos.flist.mount.cache import BlockCache
from zeroos.flist.mount.reader import BlockReader
from zeroos.flist.stores import get_many, open_store


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
        assert trio.run(reader.read, refs[0]) == plains[0]
        reader.flush()
        cached = cache.get(refs[0].id)
        assert cached is not None
        cache.put(refs[1].id, cached)  # the wrong bytes under the second block's id
        assert trio.run(reader.read, refs[1]) == plains[1]
        reader.flush()
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
            trio.run(reader.read, refs[0])
        assert cache.get(refs[0].id) is None
    finally:
        reader.close()


class _ReadOnlyStore:
    """A store over another that only reads (what the mount's reader asks of a store)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.url = inner.url

    def get(self, id: bytes) -> bytes:
        return self.inner.get(id)  # type: ignore[no-any-return]

    def put(self, id: bytes, data: bytes) -> None:
        raise NotImplementedError

    def has(self, id: bytes) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _SlowStore(_ReadOnlyStore):
    """A store that answers after `delay` seconds (a store that stopped answering)."""

    def __init__(self, delay: float, inner: Any) -> None:
        super().__init__(inner)
        self.url = "slow://test"
        self.delay = delay

    def get(self, id: bytes) -> bytes:
        time.sleep(self.delay)
        return super().get(id)


def test_a_read_gives_up_at_its_deadline_and_a_later_read_succeeds(tmp_path: Path) -> None:
    refs, plains = _stored(tmp_path, 1)
    store = _SlowStore(3.0, open_store(f"dir://{tmp_path}/store"))
    reader = BlockReader(store, BlockCache(tmp_path / "cache", 1 << 20), timeout=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=r"slow://test within 0\.5s"):
            trio.run(reader.read, refs[0])
        assert time.monotonic() - started < 2.5
        store.delay = 0
        deadline = time.monotonic() + 30
        while True:  # the slow fetch still finishes (and is kept), or a new one is made
            try:
                assert trio.run(reader.read, refs[0]) == plains[0]
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline
    finally:
        reader.close()


_PUT_MANY = """
import os, sys
from pathlib import Path
from typing import Any
from zeroos.flist.mount.cache import BlockCache
cache = BlockCache(Path(sys.argv[1]), int(sys.argv[2]))
for i in range(400):
    block_id = (i % 240).to_bytes(2, "big") * 16
    cache.put(block_id, block_id * 256)
    got = cache.get(block_id)
    if got is not None and got != block_id * 256:
        sys.exit("a torn block")
"""


def test_processes_sharing_a_cache_see_whole_blocks_and_keep_its_bound(tmp_path: Path) -> None:
    bound = 1 << 20  # 240 blocks of 8 KiB: twice as many bytes
    procs = [
        subprocess.Popen([sys.executable, "-c", _PUT_MANY, str(tmp_path / "c"), str(bound)])
        for _ in range(3)
    ]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    held = sum(p.stat().st_size for p in (tmp_path / "c").iterdir())
    cache = BlockCache(tmp_path / "c", bound)
    assert 0 < held <= bound
    assert 0 < cache.size() <= bound
    cache.close()


def test_a_block_put_after_the_cache_closed_touches_nothing(tmp_path: Path) -> None:
    # an unmount closes the cache without waiting for fetches still running: their blocks
    # stay out, and a segment's old descriptor number (maybe another file's by then) is
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
    assert not list((tmp_path / "cache").glob("seg-*"))
    reopened.close()


def test_a_torn_append_or_a_cut_segment_never_gives_wrong_bytes(tmp_path: Path) -> None:
    refs, _ = _stored(tmp_path, 3)
    store = open_store(f"dir://{tmp_path}/store")
    sealed = [store.get(ref.id) for ref in refs]
    cache = BlockCache(tmp_path / "cache", 1 << 20)
    cache.put(refs[0].id, sealed[0])
    cache.put(refs[1].id, sealed[1])
    cache.close()
    segment = next((tmp_path / "cache").glob("seg-*"))
    # a writer killed mid-append: half a block at the end of the segment, never indexed
    with segment.open("ab") as f:
        f.write(sealed[2][: len(sealed[2]) // 2])
    cache = BlockCache(tmp_path / "cache", 1 << 20)
    assert cache.get(refs[2].id) is None
    cache.put(refs[2].id, sealed[2])  # appended after the torn bytes, found whole
    assert [cache.get(ref.id) for ref in refs] == sealed
    cache.close()
    # a crash of the machine lost the segment's last bytes but kept the index: a miss
    os.truncate(segment, segment.stat().st_size - 1)
    cache = BlockCache(tmp_path / "cache", 1 << 20)
    assert cache.get(refs[2].id) is None
    assert [cache.get(ref.id) for ref in refs[:2]] == sealed[:2]
    cache.close()


def test_the_oldest_segment_goes_and_a_block_in_use_is_kept(tmp_path: Path) -> None:
    bound = 1 << 21  # segments of 256 KiB; the index and its log reserve ~200 KiB
    cache = BlockCache(tmp_path / "cache", bound)
    blocks = [(os.urandom(32), os.urandom(60 * 1024)) for _ in range(64)]
    try:
        hot_id, hot = blocks[0]
        for block_id, data in blocks:
            cache.put(block_id, data)
            assert cache.get(hot_id) == hot  # read all along: moved out of old segments
            assert cache.size() <= bound
        assert cache.get(blocks[1][0]) is None  # the oldest went, a segment at a time
        assert cache.get(blocks[-1][0]) == blocks[-1][1]
        assert len(list((tmp_path / "cache").glob("seg-*"))) <= 8
    finally:
        cache.close()


class _CountingStore(_ReadOnlyStore):
    """A dir store that counts its requests: gets and batches (get_many)."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.gets = 0
        self.batches: list[int] = []

    def get(self, id: bytes) -> bytes:
        self.gets += 1
        return super().get(id)

    def get_many(self, ids: list[bytes]) -> list[bytes | None]:
        self.batches.append(len(ids))
        return get_many(self.inner, ids)


def test_prefetched_blocks_come_in_batches_and_reads_share_a_fetch(tmp_path: Path) -> None:
    refs, plains = _stored(tmp_path, 40)
    store = _CountingStore(open_store(f"dir://{tmp_path}/store"))
    reader = BlockReader(store, BlockCache(tmp_path / "cache", 1 << 24), timeout=10)

    async def main() -> None:
        reader.prefetch(refs[:20])  # 16 and 4: the default batch
        reader.prefetch(refs[20:], batch=3)  # 3, 3, 3... and the last 2
        # read while the fetches are under way: each waits for the fetch of its block
        async with trio.open_nursery() as nursery:
            for ref, plain in zip(refs, plains, strict=True):

                async def check(ref: BlockRef = ref, plain: bytes = plain) -> None:
                    assert await reader.read(ref) == plain

                nursery.start_soon(check)

    try:
        trio.run(main)
        assert sorted(store.batches) == sorted([16, 4, *[3] * 6, 2])
        assert store.gets == 0  # no block was fetched twice, nor alone
        reader.flush()
        assert all(reader.cache.get(ref.id) is not None for ref in refs)
    finally:
        reader.close()


def test_a_block_missing_from_a_batch_is_fetched_alone_and_says_why(tmp_path: Path) -> None:
    refs, plains = _stored(tmp_path, 3)
    gone = next(p for p in (tmp_path / "store").rglob("*") if p.name.endswith(refs[1].id.hex()))
    gone.unlink()
    store = _CountingStore(open_store(f"dir://{tmp_path}/store"))
    reader = BlockReader(store, BlockCache(tmp_path / "cache", 1 << 24), timeout=10)

    async def main() -> None:
        reader.prefetch(refs)
        assert await reader.read(refs[0]) == plains[0]
        with pytest.raises(BlockError, match=f"block {refs[1].id.hex()} is not in store"):
            await reader.read(refs[1])
        assert await reader.read(refs[2]) == plains[2]

    try:
        trio.run(main)
        assert store.batches == [3, 1]  # the missing one asked again alone: the store says why
    finally:
        reader.close()
