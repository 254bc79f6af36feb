"""check_engine's checks of walking a namespace: SCAN/RSCAN cursors and HISTORY chains."""

from __future__ import annotations

import pytest

from .engine_harness import EngineHarness, full_scan, rotating_dataset, value_of


# -- scan -----------------------------------------------------------------------------------
def check_scan_empty_namespace(harness: EngineHarness) -> None:
    store = harness.store()
    assert store.scan(None, 10) == ([], None)
    assert store.scan(None, 10, reverse=True) == ([], None)


def check_scan_and_rscan_over_rotations(harness: EngineHarness) -> None:
    store = harness.store()
    order = rotating_dataset(store)
    files = harness.data_files()
    assert files is None or files >= 4, f"the data should span several files, got {files}"
    for reopened in (False, True):
        if reopened:
            store = harness.reopen().open("ns")  # type: ignore[assignment]
            assert store is not None
        forward = full_scan(store)
        assert [e.key for e in forward] == order
        for entry in forward:
            assert entry.size == store.stored_size(entry.key)
            assert not entry.deleted
            info = store.info(entry.key)
            assert info is not None
            assert entry.timestamp_us == info.timestamp_us
        backward = full_scan(store, reverse=True, limit=13)
        assert [e.key for e in backward] == order[::-1]
        # one big batch gives the same walk
        assert [e.key for e in store.scan(None, 10_000)[0]] == order


def check_scan_from_a_key_cursor(harness: EngineHarness) -> None:
    store = harness.store()
    order = rotating_dataset(store, count=120)
    for pos in (0, 1, len(order) // 2, len(order) - 2, len(order) - 1):
        key = order[pos]
        cursor = store.cursor_of(key)
        assert cursor is not None
        after: list[bytes] = []
        batch, cur = store.scan(cursor, 5)
        while batch:
            after.extend(e.key for e in batch)
            batch, cur = store.scan(cur, 5)
        assert after == order[pos + 1 :]
        before: list[bytes] = []
        batch, cur = store.scan(cursor, 5, reverse=True)
        while batch:
            before.extend(e.key for e in batch)
            batch, cur = store.scan(cur, 5, reverse=True)
        assert before == order[:pos][::-1]
    assert store.cursor_of(b"no such key") is None


def check_scan_cursor_of_a_key_survives_its_deletion(harness: EngineHarness) -> None:
    # a client walking with SCAN keeps going when the key its cursor names is deleted
    store = harness.store()
    for i in range(10):
        store.put(b"k%d" % i, b"v", i)
    batch, cursor = store.scan(None, 4)
    assert [e.key for e in batch] == [b"k0", b"k1", b"k2", b"k3"]
    store.delete(b"k3", 100)
    store.put(b"k4", b"moved", 101)
    batch, cursor = store.scan(cursor, 100)
    assert [e.key for e in batch] == [b"k5", b"k6", b"k7", b"k8", b"k9", b"k4"]


def check_key_cursors_survive_a_reopen(harness: EngineHarness) -> None:
    # small entries, many to each of the places the embedded engine keeps in memory to find
    # a key's index record, over two data files
    store = harness.store()
    keys = [b"c-%05d" % i for i in range(12_000)]
    for i, key in enumerate(keys):
        store.put(key, b"v" * 100, i)
    for i in range(0, len(keys), 5):  # an overwritten key's cursor moves to its new record
        store.put(keys[i], b"w" * 50, 20_000 + i)
    order = [key for i, key in enumerate(keys) if i % 5] + keys[::5]
    cursors = {key: store.cursor_of(key) for key in keys}
    reopened = harness.reopen().open("ns")
    assert reopened is not None
    assert {key: reopened.cursor_of(key) for key in keys} == cursors
    for pos in range(0, len(order) - 1, 97):
        batch, _cursor = reopened.scan(cursors[order[pos]], 1)
        assert [e.key for e in batch] == [order[pos + 1]]


def check_a_bounded_walk_returns_every_key_once(harness: EngineHarness) -> None:
    # scan(walk=n) looks at no more than n versions a call (the engine may look at fewer):
    # past many overwrites a call can return no entry, with a cursor to go on from
    store = harness.store()
    store.put(b"first", b"v", 1)
    for i in range(200):
        store.put(b"hot", b"v%d" % i, 2 + i)
    store.put(b"last", b"v", 500)
    for reverse, expected in (
        (False, [b"first", b"hot", b"last"]),
        (True, [b"last", b"hot", b"first"]),
    ):
        seen: list[bytes] = []
        cursor: bytes | None = None
        for _call in range(1000):
            batch, cursor = store.scan(cursor, 100, reverse, walk=16)
            seen += [e.key for e in batch]
            if cursor is None:
                assert not batch
                break
        assert seen == expected


def check_scan_rejects_a_cursor_it_did_not_make(harness: EngineHarness) -> None:
    store = harness.store()
    for i in range(5):
        store.put(b"k%d" % i, b"v", i)
    for cursor in (b"", b"x", b"\x00" * 3, b"\xff" * 6, b"\xff" * 64, b"garbage!" * 3):
        for reverse in (False, True):
            with pytest.raises(ValueError, match=r"\w"):
                store.scan(cursor, 10, reverse)


# -- history --------------------------------------------------------------------------------
def check_history_chain_across_rotations(harness: EngineHarness) -> None:
    store = harness.store()
    versions = []
    ts = 0
    for v in range(6):
        value = value_of(v, 300_000 + v)  # big versions: the chain spans data files
        ts += 1
        store.put(b"h", value, ts)
        versions.append((value, ts))
        for j in range(3):  # other keys in between
            ts += 1
            store.put(b"other-%d-%d" % (v, j), value_of(j, 5000), ts)
    files = harness.data_files()
    assert files is None or files >= 2
    for reopened in (False, True):
        if reopened:
            store = harness.reopen().open("ns")  # type: ignore[assignment]
            assert store is not None
        walked = []
        version = store.history(b"h", None)
        while version is not None:
            assert version.info.key == b"h"
            assert version.info.size == len(version.value)
            assert not version.info.deleted
            walked.append((version.value, version.info.timestamp_us))
            if version.cursor is None:
                break
            version = store.history(b"h", version.cursor)
        assert walked == versions[::-1]


def check_history_of_missing_and_deleted_keys(harness: EngineHarness) -> None:
    store = harness.store()
    assert store.history(b"nope", None) is None
    store.put(b"k", b"v1", 1)
    store.put(b"k", b"v2", 2)
    current = store.history(b"k", None)
    assert current is not None
    assert current.value == b"v2"
    older = current.cursor
    assert older is not None
    store.delete(b"k", 3)
    assert store.history(b"k", None) is None  # HISTORY of a deleted key: not found
    # an older version's cursor still reads that version
    version = store.history(b"k", older)
    assert version is not None
    assert (version.value, version.info.timestamp_us) == (b"v1", 1)
    store.put(b"k", b"v3", 4)
    current = store.history(b"k", None)
    assert current is not None
    assert current.value == b"v3"


def check_history_rejects_foreign_and_invalid_cursors(harness: EngineHarness) -> None:
    store = harness.store()
    store.put(b"a", b"a1", 1)
    store.put(b"b", b"b1", 2)
    store.put(b"a", b"a2", 3)
    store.put(b"b", b"b2", 4)
    a_older = store.history(b"a", None).cursor  # type: ignore[union-attr]
    assert a_older is not None
    with pytest.raises(ValueError, match=r"\w"):
        store.history(b"b", a_older)  # a cursor of another key
    for cursor in (b"\xff" * 8, b"\x00\x00\x00\x00\xff\xff\x00\x00", b"\x05\x00\x00\x00" * 2):
        with pytest.raises(ValueError, match=r"\w"):
            store.history(b"a", cursor)
