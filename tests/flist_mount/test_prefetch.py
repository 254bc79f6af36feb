"""The mount's read path fetches ahead: the next blocks of a sequential reader, and the first
blocks of the next files of a directory read in order; a random reader gets no prefetch."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pyfuse3
import trio

from zeroos.flist.format import Flist
from zeroos.flist.models import BlockRef
from zeroos.flist.mount.cache import BlockCache
from zeroos.flist.mount.fs import FlistOperations
from zeroos.flist.mount.reader import BlockReader
from zeroos.flist.stores import Router

from .conftest import BLOCK_SIZE, build_flist


def _cached(cache: BlockCache, refs: list[BlockRef]) -> list[bool]:
    return [cache.get(ref.id) is not None for ref in refs]


async def _settle(cache: BlockCache, refs: list[BlockRef], want: list[bool]) -> list[bool]:
    """What the cache holds of `refs` once the fetches in flight are done (or 30 s passed);
    the fetches run on the loop, which waits here."""
    deadline = time.monotonic() + 30
    while (got := _cached(cache, refs)) != want and time.monotonic() < deadline:
        await trio.sleep(0.05)
    return got


def _session(tmp_path: Path, flist_path: Path, body: Any) -> None:
    with Flist.open(flist_path) as flist:
        store = Router(flist.routes(), 10)
        cache = BlockCache(tmp_path / "cache", 1 << 30)
        reader = BlockReader(store, cache, timeout=10)
        try:
            trio.run(body, FlistOperations(flist, reader), flist, cache)
        finally:
            reader.close()
            cache.close()
            store.close()


def test_a_sequential_reader_has_the_next_blocks_fetched(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    data = os.urandom(40 * BLOCK_SIZE)
    (src / "big").write_bytes(data)
    (src / "random").write_bytes(os.urandom(40 * BLOCK_SIZE))
    flist_path = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")

    async def body(ops: FlistOperations, flist: Flist, cache: BlockCache) -> None:
        ctx: Any = None
        big = flist.resolve("/big")
        refs = flist.blocks(big.ino)
        info = await ops.open(big.ino, os.O_RDONLY, ctx)
        for index in range(4):  # 1 block, then 2, 4, 8 ahead
            got = await ops.read(info.fh, index * BLOCK_SIZE, BLOCK_SIZE)
            assert got == data[index * BLOCK_SIZE : (index + 1) * BLOCK_SIZE]
        want = [True] * (4 + 8) + [False] * (40 - 12)
        assert await _settle(cache, refs, want) == want
        await ops.release(info.fh)

        # jumping about: nothing beyond what is read (and block 0, fetched as the first block
        # of the file after "big" when big was read)
        other = flist.resolve("/random")
        refs = flist.blocks(other.ino)
        info = await ops.open(other.ino, os.O_RDONLY, ctx)
        for index in (30, 10, 20):
            await ops.read(info.fh, index * BLOCK_SIZE, 100)
        want = [i in (0, 10, 20, 30) for i in range(40)]
        assert await _settle(cache, refs, want) == want

    _session(tmp_path, flist_path, body)


def test_a_directory_read_in_order_has_the_next_files_fetched(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        (src / f"f{i:02}").write_bytes(os.urandom(1000 + i))
    flist_path = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")

    async def body(ops: FlistOperations, flist: Flist, cache: BlockCache) -> None:
        ctx: Any = None
        names = [f"/f{i:02}" for i in range(20)]
        heads = [flist.blocks(flist.resolve(n).ino)[0] for n in names]
        for name in names[:2]:
            info = await ops.open(flist.resolve(name).ino, os.O_RDONLY, ctx)
            assert await ops.read(info.fh, 0, 10) == (src / name[1:]).read_bytes()[:10]
            await ops.release(info.fh)
        # the first read asked for the next 16 files' first blocks, in one batch
        want = [i < 1 + 16 for i in range(20)]
        assert await _settle(cache, heads, want) == want
        # an open without a read (its pages are still in the kernel's cache) fetches nothing
        info = await ops.open(flist.resolve(names[2]).ino, os.O_RDONLY, ctx)
        await ops.release(info.fh)
        assert await _settle(cache, heads, want) == want
        # once half of those are read, the next batch is asked for
        for name in names[3:10]:
            info = await ops.open(flist.resolve(name).ino, os.O_RDONLY, ctx)
            assert await ops.read(info.fh, 0, 10) == (src / name[1:]).read_bytes()[:10]
            await ops.release(info.fh)
        want = [True] * 20
        assert await _settle(cache, heads, want) == want

    _session(tmp_path, flist_path, body)


def test_file_info_keeps_the_kernel_cache(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    flist_path = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")

    async def body(ops: FlistOperations, flist: Flist, cache: BlockCache) -> None:
        info = await ops.open(flist.resolve("/f").ino, os.O_RDONLY, None)  # type: ignore[arg-type]
        assert isinstance(info, pyfuse3.FileInfo)
        assert info.keep_cache
        assert not info.direct_io

    _session(tmp_path, flist_path, body)


def test_a_directory_listed_by_a_tree_reader_has_its_first_files_fetched(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for folder, count in (("a", 3), ("b", 20), ("c", 5)):
        (src / folder).mkdir(parents=True)
        for i in range(count):
            (src / folder / f"f{i:02}").write_bytes(os.urandom(1000 + i))
    flist_path = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")

    async def body(ops: FlistOperations, flist: Flist, cache: BlockCache) -> None:
        ctx: Any = None
        heads = {
            name: [flist.blocks(flist.resolve(f"/{name}/f{i:02}").ino)[0] for i in range(count)]
            for name, count in (("a", 3), ("b", 20), ("c", 5))
        }
        # a listing alone (find, ls) fetches nothing
        await ops.releasedir(await ops.opendir(flist.resolve("/c").ino, ctx))
        await trio.sleep(0.2)
        assert _cached(cache, heads["c"]) == [False] * 5
        # a reader going through a's files in order, then listing b: b's first 16 files
        for i in range(3):
            info = await ops.open(flist.resolve(f"/a/f{i:02}").ino, os.O_RDONLY, ctx)
            await ops.read(info.fh, 0, 10)
            await ops.release(info.fh)
        await ops.releasedir(await ops.opendir(flist.resolve("/b").ino, ctx))
        want = [i < 16 for i in range(20)]
        assert await _settle(cache, heads["b"], want) == want

    _session(tmp_path, flist_path, body)
