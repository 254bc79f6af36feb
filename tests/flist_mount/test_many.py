"""The mount service's flists: each one's inode numbers moved into a range of its own, the
same for every lookup the read path makes (a batch of block lists included)."""

from __future__ import annotations

import os
from pathlib import Path

from zeroos.flist.mount.cache import BlockCache
from zeroos.flist.mount.many import ManyOperations

from .conftest import BLOCK_SIZE, build_flist


def test_a_served_flist_answers_block_lookups_in_its_own_inode_range(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}").write_bytes(os.urandom(BLOCK_SIZE + 1 + 10 * i))
    flist_path = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    cache = BlockCache(tmp_path / "cache", 1 << 24)
    ops = ManyOperations(cache, timeout=10, workers=2)
    try:
        assert ops.add("first", flist_path)
        assert ops.add("second", flist_path)
        first, second = ops.members["first"].flist, ops.members["second"].flist
        assert first.shift != second.shift
        for flist in (first, second):
            files = [c.ino for c in flist.children(flist.shift + 1)]  # its root
            assert len(files) == 5
            assert all(ino >> 32 == flist.shift >> 32 for ino in files)
            one_by_one = {ino: flist.blocks(ino) for ino in files}
            assert all(len(blocks) == 2 for blocks in one_by_one.values())
            assert flist.blocks_of(files) == one_by_one
    finally:
        ops.close()
        cache.close()
