"""The persistent log: cached subtrees agree with plain RFC 6962 math; torn tails repaired."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zeroos.zdb.chain.layout import BLOCKS_FILE, HASHES_FILE, LEAVES_FILE, read_leaf_records
from zeroos.zdb.chain.leaf import OP_DEL, OP_SET, Leaf, value_hash
from zeroos.zdb.chain.log import ChainLog
from zeroos.zdb.chain.merkle import MemoryTree, verify_consistency, verify_inclusion
from zeroos.zdb.chain.native import record_end
from zeroos.zdb.chain.signing import Identity
from zeroos.zdb.embedded import EmbeddedEngine
from zeroos.zdb.namespace import NamespaceSettings


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


def _leaves_from_file(folder) -> list[bytes]:
    with open(os.path.join(folder, LEAVES_FILE), "rb") as fh:
        buf = fh.read()
    offsets, _ = read_leaf_records(buf)
    return [buf[off + 6 : record_end(buf, off)] for off in offsets]


def test_every_leaf_is_reached_from_the_sparse_marks(tmp_path):
    log = ChainLog(str(tmp_path), "ns", Identity.generate())
    rng = random.Random(2)
    for i in range(700):  # keys of every length: records of different sizes between marks
        log.add(False, rng.randbytes(rng.randrange(1, 256)), b"v%d" % i, i)
        if rng.random() < 0.1:
            log.commit()
    log.commit()
    expected = _leaves_from_file(tmp_path)
    assert [log.leaf(i) for i in range(log.size)] == expected
    assert [raw for _, raw in log.leaves(630)] == expected[630:]
    for bad in (-1, log.size):
        with pytest.raises(IndexError):
            log.leaf(bad)
    tree = MemoryTree([log.leaf_hash(i) for i in range(log.size)])
    for size in (640, 513, 256, 64, 63, 1, 0):  # cut across marks and blocks
        log.truncate(size)
        assert log.size == size
        assert [log.leaf(i) for i in range(size)] == expected[:size]
        assert log.root() == tree.root(size)
    log.add(False, b"again", b"v", 1)
    log.commit()
    assert Leaf.decode(log.leaf(0)).key == b"again"
    log.close()


@pytest.mark.parametrize("damage", ["missing", "flipped", "stale", "longer"])
def test_the_block_cache_is_checked_and_rebuilt(tmp_path, damage):
    identity = Identity.generate()
    log = ChainLog(str(tmp_path / "a"), "ns", identity)
    _fill(log, 1300)
    root = log.root()
    log.close()
    blocks = tmp_path / "a" / BLOCKS_FILE
    assert blocks.stat().st_size == 1300 // 256 * 36
    if damage == "missing":
        blocks.unlink()
    elif damage == "flipped":
        raw = bytearray(blocks.read_bytes())
        raw[2 * 36 + 5] ^= 1
        blocks.write_bytes(bytes(raw))
    elif damage == "stale":  # another log's cache: same length, other roots
        other = ChainLog(str(tmp_path / "b"), "ns", identity)
        for i in range(1300):
            other.add(False, b"x%d" % i, b"other", i)
        other.close()
        blocks.write_bytes((tmp_path / "b" / BLOCKS_FILE).read_bytes())
    else:  # more blocks than leaves (a log cut while the cache was not)
        blocks.write_bytes(blocks.read_bytes() * 2)
    again = ChainLog(str(tmp_path / "a"), "ns", identity)
    assert again.root() == root
    assert again.root(1024) == MemoryTree([again.leaf_hash(i) for i in range(1024)]).root(1024)
    again.close()
    assert blocks.stat().st_size == 1300 // 256 * 36


_KEYS = st.sampled_from([b"a", b"b", b"c", b"d", b"e" * 200, b"\x00\xff"])
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _KEYS, st.binary(max_size=300)),
        st.tuples(st.just("del"), _KEYS, st.just(b"")),
        st.tuples(st.just("commit"), st.just(b""), st.just(b"")),
        st.tuples(st.just("reopen"), st.just(b""), st.just(b"")),
        st.tuples(st.just("flush"), st.just(b""), st.just(b"")),
    ),
    max_size=400,
)


def _check_every_key(store, model: dict[bytes, bytes | None]) -> None:
    log = store.chain
    root = log.root()
    for key in {b"a", b"b", b"c", b"d", b"e" * 200, b"\x00\xff"}:
        index = store.chain_leaf(key)
        if key not in model:
            assert index is None
            continue
        leaf = Leaf.decode(log.leaf(index))
        assert leaf.key == key
        value = model[key]
        if value is None:
            assert leaf.op == OP_DEL
        else:
            assert leaf.op == OP_SET
            assert leaf.value_hash == value_hash(value)
            assert store.get(key) == value
        verify_inclusion(index, log.size, log.leaf_hash(index), log.inclusion(index), root)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_OPS)
def test_each_keys_leaf_is_proven_after_random_workloads(tmp_path_factory, ops):
    """Property: after any mix of SET, DEL, FLUSH, commits and reopenings, every key's leaf
    is its newest SET (with its value's hash) or DEL, and its inclusion proof verifies."""
    root = tmp_path_factory.mktemp("chain")
    data, index = str(root / "data"), str(root / "index")
    engine = EmbeddedEngine(data, index)
    store = engine.create("ns", NamespaceSettings())
    model: dict[bytes, bytes | None] = {}  # None: deleted (its DEL leaf stands)
    for ts, (op, key, value) in enumerate(ops, 1):
        if op == "set":
            store.put(key, value, ts)
            model[key] = value
        elif op == "del" and store.delete(key, ts):
            model[key] = None
        elif op == "commit":
            engine.flush()
        elif op == "flush":
            store.clear()
            model.clear()
        elif op == "reopen":
            engine.close()
            engine = EmbeddedEngine(data, index)
            store = engine.open("ns")
        if op in ("commit", "reopen"):
            _check_every_key(store, model)
    engine.flush()
    _check_every_key(store, model)
    engine.close()
    engine = EmbeddedEngine(data, index)
    _check_every_key(engine.open("ns"), model)
    engine.close()
