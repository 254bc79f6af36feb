"""Warm reads skip the mount's process: the kernel opens files and lists directories of the
read-only flist itself (FUSE's no-open mode) and reads them from its caches.

A mount started with --stats counts the requests it served, by operation, in its root's
user.zos.requests attribute; each test reads them before and after what it does."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pyfuse3
import pytest
import trio

from zeroos.flist.format import Flist
from zeroos.flist.mount import noopen
from zeroos.flist.mount.cache import BlockCache
from zeroos.flist.mount.fs import STATS_XATTR, FlistOperations
from zeroos.flist.mount.reader import BlockReader
from zeroos.flist.stores import Router

from .conftest import BLOCK_SIZE, build_flist, make_tree
from .test_mount import _tree_facts


def _requests(mnt: Path) -> dict[str, int]:
    counts: dict[str, int] = json.loads(os.getxattr(mnt, STATS_XATTR))
    counts.pop("getxattr", None)  # asking counts too
    return counts


def _small_tree(root: Path) -> dict[str, bytes]:
    files = {f"d/f{i}": os.urandom(BLOCK_SIZE * (i % 3) + 1000 + i) for i in range(12)}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    os.symlink("d/f0", root / "link")
    return files


def test_the_no_open_shim_is_built() -> None:
    # the suite runs where setup.py builds it (CI installs gcc and libfuse3-dev): without it
    # the test below would pass by measuring the slow path's counts
    assert noopen.available()


def test_a_warm_file_and_listing_cost_the_process_no_request(tmp_path: Path, mounter: Any) -> None:
    src = tmp_path / "src"
    files = _small_tree(src)
    flist = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    mnt = mounter(flist, "--stats").mountpoint

    for name, data in files.items():  # cold: every file reaches the process
        assert (mnt / name).read_bytes() == data
    assert sorted(os.listdir(mnt / "d")) == sorted(p.name for p in (src / "d").iterdir())
    assert os.readlink(mnt / "link") == "d/f0"
    cold = _requests(mnt)
    assert cold["read"] >= len(files)

    for _ in range(3):  # warm: opens, reads, listings and links from the kernel's caches
        for name, data in files.items():
            assert (mnt / name).read_bytes() == data
        assert len(os.listdir(mnt / "d")) == len(files)
        assert os.readlink(mnt / "link") == "d/f0"
    assert _requests(mnt) == cold
    # the kernel asked once, was told ENOSYS, and stopped asking (so no release either)
    assert cold.get("open", 0) <= 1
    assert cold.get("opendir", 0) <= 1
    assert "release" not in cold
    assert "releasedir" not in cold


def test_with_open_requests_every_open_reaches_the_process(tmp_path: Path, mounter: Any) -> None:
    src = make_tree(tmp_path / "src")
    flist = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    mnt = mounter(flist, "--open-requests", "--stats").mountpoint
    assert _tree_facts(mnt) == _tree_facts(src)  # the slow path serves the same tree
    before = _requests(mnt)
    for _ in range(2):
        assert (mnt / "multi").read_bytes() == (src / "multi").read_bytes()
    after = _requests(mnt)
    assert after["open"] == before["open"] + 2
    assert after.get("read", 0) == before.get("read", 0)  # the pages were kept all the same


def test_reads_are_right_after_the_kernel_drops_the_pages(tmp_path: Path, mounter: Any) -> None:
    src = tmp_path / "src"
    files = _small_tree(src)
    flist = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    mnt = mounter(flist, "--stats").mountpoint
    a, b = "d/f2", "d/f5"  # multi-block files: each read names its file by inode alone
    for name in files:
        assert (mnt / name).read_bytes() == files[name]
    before = _requests(mnt)["read"]
    fa, fb = os.open(mnt / a, os.O_RDONLY), os.open(mnt / b, os.O_RDONLY)
    try:
        for round_ in range(2):
            for fd in (fa, fb):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            # interleaved, from the end backwards: no state of one file may serve the other
            for index in reversed(range(3)):
                for fd, name in ((fa, a), (fb, b)):
                    off = index * BLOCK_SIZE + round_ * 7
                    want = files[name][off : off + BLOCK_SIZE]
                    assert os.pread(fd, BLOCK_SIZE, off) == want
    finally:
        os.close(fa)
        os.close(fb)
    assert _requests(mnt)["read"] > before  # the process served them again


def test_without_open_the_handle_is_the_inode(tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = _small_tree(src)
    flist_path = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    with Flist.open(flist_path) as flist:
        store = Router(flist.routes(), 10)
        cache = BlockCache(tmp_path / "cache", 1 << 30)
        reader = BlockReader(store, cache, timeout=10)
        ops = FlistOperations(flist, reader, no_open=True)
        ctx: Any = None

        async def body() -> None:
            ino = flist.resolve("/d/f5").ino
            for call in (ops.open(ino, os.O_RDONLY, ctx), ops.opendir(1, ctx)):
                with pytest.raises(pyfuse3.FUSEError) as caught:
                    await call
                assert caught.value.errno == errno.ENOSYS
            want = files["d/f5"]
            assert (
                await ops.read(ino, BLOCK_SIZE - 10, 20) == want[BLOCK_SIZE - 10 : BLOCK_SIZE + 10]
            )
            assert await ops.read(ino, 0, len(want) + 99) == want
            other = flist.resolve("/d/f1").ino
            assert await ops.read(other, 0, 100) == files["d/f1"][:100]
            with pytest.raises(pyfuse3.FUSEError) as caught:
                await ops.read(flist.resolve("/d").ino, 0, 10)
            assert caught.value.errno == errno.EIO

        try:
            trio.run(body)
        finally:
            reader.close()
            cache.close()
            store.close()


def test_without_stats_the_mount_has_no_extended_attributes(tmp_path: Path, mounter: Any) -> None:
    src = tmp_path / "src"
    _small_tree(src)
    flist = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    mnt = mounter(flist).mountpoint
    for path in (mnt, mnt / "d" / "f1"):
        with pytest.raises(OSError, match="not supported") as caught:
            os.getxattr(path, STATS_XATTR)
        assert caught.value.errno == errno.EOPNOTSUPP  # the kernel stopped asking the mount
