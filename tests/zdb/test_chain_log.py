"""The persistent log: cached subtrees agree with plain RFC 6962 math; torn tails repaired."""

from __future__ import annotations

import os
import random

from zeroos.zdb.chain.leaf import Leaf
from zeroos.zdb.chain.log import HASHES_FILE, LEAVES_FILE, ChainLog
from zeroos.zdb.chain.merkle import MemoryTree, verify_consistency, verify_inclusion
from zeroos.zdb.chain.signing import Identity


def _fill(log: ChainLog, count: int, batch: int = 37) -> None:
    for i in range(count):
        log.add(i % 7 == 0, b"k%d" % (i % 50), b"v%d" % i, i)
        if i % batch == 0:
            log.commit()
    log.commit()


def test_log_matches_memory_tree_across_blocks(tmp_path):
    log = ChainLog(str(tmp_path), "ns", Identity.generate())
    _fill(log, 1100)
    tree = MemoryTree([log.leaf_hash(i) for i in range(log.size)])
    rng = random.Random(1)
    for size in [1, 2, 255, 256, 257, 511, 512, 513, 1024, 1100, *rng.sample(range(1, 1100), 20)]:
        assert log.root(size) == tree.root(size)
        index = rng.randrange(size)
        assert log.inclusion(index, size) == tree.inclusion(index, size)
        verify_inclusion(
            index, size, log.leaf_hash(index), log.inclusion(index, size), tree.root(size)
        )
        old = rng.randrange(size + 1)
        proof = log.consistency(old, size)
        assert proof == tree.consistency(old, size)
        verify_consistency(old, size, tree.root(old), tree.root(size), proof)
    for i in (0, 700, 1099):
        assert Leaf.decode(log.leaf(i)).seq == i
    log.close()


def test_reopen_keeps_the_tree_and_repairs_torn_tails(tmp_path):
    identity = Identity.generate()
    log = ChainLog(str(tmp_path), "ns", identity)
    _fill(log, 600)
    head = log.head()
    log.close()
    # a torn hashes tail and junk after the last leaf record
    with open(os.path.join(tmp_path, HASHES_FILE), "r+b") as fh:
        fh.truncate(os.path.getsize(fh.name) - 45)
    with open(os.path.join(tmp_path, LEAVES_FILE), "ab") as fh:
        fh.write(b"\x07\x00\x00\x00junk")
    again = ChainLog(str(tmp_path), "ns", identity)
    assert again.size == 600
    assert again.root() == head.root
    assert again.head() == head  # the persisted head is served again
    assert again.repaired >= 2
    again.close()
