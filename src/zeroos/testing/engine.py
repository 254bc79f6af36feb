"""The conformance suite of zero-db's Engine/Store interface, run against every engine.

``check_engine(make, root)`` runs every check on engines made by ``make(root, datasize)``,
which called again with the same root must reopen what an earlier engine left there (trio's
``check_two_way_stream`` is the model). Each check gets a fresh root of its own.
"""

from __future__ import annotations

import itertools
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from ..zdb.engine import Engine, EntryInfo, Store
from ..zdb.errors import StorageError
from ..zdb.namespace import NamespaceSettings

MIB = 1024 * 1024

EngineMaker = Callable[[Path, int], Engine]
"""``make(root, datasize)``: an engine keeping its namespaces under (or named by) ``root``."""

DataFiles = Callable[[Path, str], int]
"""``data_files(root, namespace)``: how many data files a namespace spans on disk."""


class EngineHarness:
    """One engine at a time on one root; reopen() closes it and opens a new one."""

    def __init__(
        self,
        make: EngineMaker,
        root: Path,
        datasize: int = MIB,
        data_files_of: DataFiles | None = None,
    ) -> None:
        self.make = make
        self.root = root
        self.datasize = datasize
        self.data_files_of = data_files_of
        self.engine: Engine | None = None

    def open(self) -> Engine:
        assert self.engine is None
        self.engine = self.make(self.root, self.datasize)
        return self.engine

    def reopen(self) -> Engine:
        self.close()
        return self.open()

    def close(self) -> None:
        if self.engine is not None:
            engine, self.engine = self.engine, None
            engine.close()

    def store(self, name: str = "ns", settings: NamespaceSettings | None = None) -> Store:
        """The namespace, created when it does not exist yet."""
        assert self.engine is not None
        store = self.engine.open(name)
        if store is None:
            store = self.engine.create(name, settings or NamespaceSettings())
        return store

    def data_files(self, name: str = "ns") -> int | None:
        """How many data files the namespace spans (None: the engine has no data files)."""
        if self.data_files_of is None:
            return None
        return self.data_files_of(self.root, name)


def value_of(i: int, size: int = 40) -> bytes:
    """A value that differs per i, of a given size."""
    seed = b"%08d|" % i
    return (seed * (size // len(seed) + 1))[:size]


def full_scan(store: Store, reverse: bool = False, limit: int = 7) -> list[EntryInfo]:
    """Every entry a scan walk returns, batch by batch with cursors."""
    out: list[EntryInfo] = []
    cursor: bytes | None = None
    while True:
        batch, cursor = store.scan(cursor, limit, reverse)
        assert len(batch) <= limit
        if not batch:
            assert cursor is None
            return out
        assert cursor is not None
        out.extend(batch)
        assert len(out) < 100_000, "scan does not end"


# -- keys -----------------------------------------------------------------------------------
def check_put_get_overwrite_delete(harness: EngineHarness) -> None:
    store = harness.store()
    assert store.get(b"k") is None
    assert store.delete(b"k", 1) is False
    store.put(b"k", b"one", 10)
    assert store.get(b"k") == b"one"
    store.put(b"k", b"a longer second value", 20)
    assert store.get(b"k") == b"a longer second value"
    store.put(b"k", b"", 30)  # an empty value is a value, not a deletion
    assert store.get(b"k") == b""
    assert store.contains(b"k")
    assert store.delete(b"k", 40) is True
    assert store.get(b"k") is None
    assert not store.contains(b"k")
    assert store.delete(b"k", 50) is False
    store.put(b"k", b"back", 60)
    assert store.get(b"k") == b"back"


def check_binary_keys_and_values(harness: EngineHarness) -> None:
    store = harness.store()
    keys = [bytes([i]) for i in range(256)] + [b"\x00" * 255, b"\xff" * 255, b"k\r\n\x00"]
    for i, key in enumerate(keys):
        store.put(key, bytes(range(256)) * (i % 5) + key, i)
    harness.engine.flush()  # type: ignore[union-attr]
    for i, key in enumerate(keys):
        assert store.get(key) == bytes(range(256)) * (i % 5) + key
    assert store.entries == len(keys)


def check_info_stored_size_contains_check(harness: EngineHarness) -> None:
    store = harness.store()
    for missing in (store.info(b"x"), store.stored_size(b"x"), store.check(b"x")):
        assert missing is None
    assert store.contains(b"x") is False
    store.put(b"x", b"12345", 1_700_000_000_123_456)
    info = store.info(b"x")
    assert info == EntryInfo(b"x", 5, 1_700_000_000_123_456, False)
    assert store.stored_size(b"x") == 5
    assert store.contains(b"x") is True
    assert store.check(b"x") is True
    store.put(b"x", b"", 7)
    assert store.info(b"x") == EntryInfo(b"x", 0, 7, False)
    assert store.stored_size(b"x") == 0
    assert store.check(b"x") is True
    store.delete(b"x", 8)
    for gone in (store.info(b"x"), store.stored_size(b"x"), store.check(b"x")):
        assert gone is None


def check_accounting_entries_and_data_size(harness: EngineHarness) -> None:
    store = harness.store()
    assert (store.entries, store.data_size) == (0, 0)
    model: dict[bytes, bytes] = {}
    rng = random.Random(1)
    for step in range(600):
        key = b"key-%d" % rng.randrange(80)
        if rng.random() < 0.2:
            assert store.delete(key, step) == (key in model)
            model.pop(key, None)
        else:
            value = rng.randbytes(rng.randrange(0, 3000))
            store.put(key, value, step)
            model[key] = value
        assert store.entries == len(model)
        assert store.data_size == sum(map(len, model.values()))
    # history and tombstones take disk space, payload accounting does not count them
    assert store.disk_size >= store.data_size
    assert store.index_size > 0
    entries, data_size = store.entries, store.data_size
    store = harness.reopen().open("ns")  # type: ignore[assignment]
    assert store is not None
    assert (store.entries, store.data_size) == (entries, data_size)
    for key, value in model.items():
        assert store.get(key) == value


def check_disk_size_grows_with_overwrites(harness: EngineHarness) -> None:
    store = harness.store()
    store.put(b"k", b"x" * 1000, 1)
    before = store.disk_size
    for i in range(10):
        store.put(b"k", b"y" * 1000 + b"%d" % i, i + 2)
    assert store.data_size == 1001
    assert store.disk_size >= before + 10 * 1000


# -- scan -----------------------------------------------------------------------------------
def _rotating_dataset(store: Store, count: int = 240, size: int = 20_000) -> list[bytes]:
    """Write ~4.8 MB (several 1 MiB data files), overwrite and delete some; return the keys in
    the order of their last write (the order SCAN walks)."""
    order: list[bytes] = []
    ts = 0
    for i in range(count):
        ts += 1
        store.put(b"key-%04d" % i, value_of(i, size), ts)
        order.append(b"key-%04d" % i)
    for i in range(0, count, 7):  # overwrites move a key to the end of the walk
        key = b"key-%04d" % i
        ts += 1
        store.put(key, value_of(i + 10_000, size // 2), ts)
        order.remove(key)
        order.append(key)
    for i in range(3, count, 11):
        key = b"key-%04d" % i
        ts += 1
        assert store.delete(key, ts)
        order.remove(key)
    return order


def check_scan_empty_namespace(harness: EngineHarness) -> None:
    store = harness.store()
    assert store.scan(None, 10) == ([], None)
    assert store.scan(None, 10, reverse=True) == ([], None)


def check_scan_and_rscan_over_rotations(harness: EngineHarness) -> None:
    store = harness.store()
    order = _rotating_dataset(store)
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
    order = _rotating_dataset(store, count=120)
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


# -- whole namespace ------------------------------------------------------------------------
def check_clear(harness: EngineHarness) -> None:
    store = harness.store()
    _rotating_dataset(store, count=100)
    store.clear()
    assert (store.entries, store.data_size) == (0, 0)
    assert store.scan(None, 10) == ([], None)
    assert store.get(b"key-0001") is None
    assert store.history(b"key-0001", None) is None
    store.put(b"after", b"clear", 1)
    assert store.get(b"after") == b"clear"
    store = harness.reopen().open("ns")  # type: ignore[assignment]
    assert store is not None
    assert store.entries == 1
    assert store.get(b"after") == b"clear"
    assert store.get(b"key-0002") is None
    assert [e.key for e in full_scan(store)] == [b"after"]


def check_settings_persist(harness: EngineHarness) -> None:
    settings = NamespaceSettings(password="s3cret", public=False, maxsize=12345, worm=True)  # noqa: S106
    store = harness.store("conf", settings)
    assert store.settings == settings
    store.settings.maxsize = 999
    store.settings.password = None
    store.save_settings()
    store = harness.reopen().open("conf")  # type: ignore[assignment]
    assert store is not None
    assert store.settings == NamespaceSettings(password=None, public=False, maxsize=999, worm=True)


def check_seq_mode_next_id(harness: EngineHarness) -> None:
    store = harness.store("seq", NamespaceSettings(mode="seq"))
    assert store.next_id == 0
    for i in range(5):
        key = store.next_id.to_bytes(8, "little")
        store.put(key, b"v%d" % i, i)
    assert store.next_id == 5
    store = harness.reopen().open("seq")  # type: ignore[assignment]
    assert store is not None
    assert store.next_id == 5
    assert store.get((3).to_bytes(8, "little")) == b"v3"


def check_namespaces_create_open_drop(harness: EngineHarness) -> None:
    engine = harness.engine
    assert engine is not None
    assert engine.open("a") is None
    a = engine.create("a", NamespaceSettings())
    engine.create("b", NamespaceSettings(mode="seq"))
    assert engine.open("a") is a
    assert {"a", "b"} <= set(engine.namespaces())
    with pytest.raises(StorageError):
        engine.create("a", NamespaceSettings())
    a.put(b"k", b"v", 1)
    engine = harness.reopen()
    assert {"a", "b"} <= set(engine.namespaces())
    a = engine.open("a")  # type: ignore[assignment]
    assert a is not None
    assert a.get(b"k") == b"v"
    engine.drop("a")
    assert engine.open("a") is None
    assert "a" not in engine.namespaces()
    engine = harness.reopen()
    assert engine.open("a") is None
    assert "a" not in engine.namespaces()
    fresh = engine.create("a", NamespaceSettings())  # the name can be used again, empty
    assert fresh.entries == 0
    assert fresh.get(b"k") is None


def check_reopen_after_close_keeps_everything(harness: EngineHarness) -> None:
    store = harness.store()
    rng = random.Random(7)
    model = {b"k%05d" % i: rng.randbytes(rng.randrange(1, 2000)) for i in range(2000)}
    for ts, (key, value) in enumerate(model.items()):
        store.put(key, value, ts)
    harness.engine.sync()  # type: ignore[union-attr]
    for _ in range(2):
        store = harness.reopen().open("ns")  # type: ignore[assignment]
        assert store is not None
        assert store.entries == len(model)
        assert store.data_size == sum(map(len, model.values()))
        for key, value in model.items():
            assert store.get(key) == value
            assert store.check(key) is True


# -- property: a store behaves like a dict, across reopens ---------------------------------
KEYS = st.binary(min_size=1, max_size=12) | st.sampled_from([b"a", b"b", b"c", b"\x00", b"k" * 255])
VALUES = st.binary(max_size=300) | st.builds(
    lambda n, b: b * n, st.integers(0, 60_000), st.binary(min_size=1, max_size=3)
)


def _dict_model_machine(make: EngineMaker, root: Path) -> type[RuleBasedStateMachine]:
    roots = itertools.count()

    class StoreVsDict(RuleBasedStateMachine):
        keys = Bundle("keys")

        def __init__(self) -> None:
            super().__init__()
            self.root = root / f"model-{next(roots)}"
            self.harness = EngineHarness(make, self.root)
            self.harness.open()
            self.store = self.harness.store()
            self.model: dict[bytes, bytes] = {}
            self.ts = 0

        def teardown(self) -> None:
            self.harness.close()
            shutil.rmtree(self.root, ignore_errors=True)

        @initialize(target=keys, key=KEYS)
        def first_key(self, key: bytes) -> bytes:
            return key

        @rule(target=keys, key=KEYS)
        def new_key(self, key: bytes) -> bytes:
            return key

        @rule(key=keys, value=VALUES)
        def put(self, key: bytes, value: bytes) -> None:
            self.ts += 1
            self.store.put(key, value, self.ts)
            self.model[key] = value

        @rule(key=keys)
        def delete(self, key: bytes) -> None:
            self.ts += 1
            assert self.store.delete(key, self.ts) == (key in self.model)
            self.model.pop(key, None)

        @rule(key=consumes(keys))
        def get(self, key: bytes) -> None:
            assert self.store.get(key) == self.model.get(key)
            assert self.store.contains(key) == (key in self.model)
            size = self.store.stored_size(key)
            assert size == (len(self.model[key]) if key in self.model else None)

        @rule()
        def reopen(self) -> None:
            self.harness.reopen()
            store = self.harness.engine.open("ns")  # type: ignore[union-attr]
            assert store is not None
            self.store = store

        @rule()
        def flush(self) -> None:
            self.harness.engine.flush()  # type: ignore[union-attr]

        @invariant()
        def counts_match(self) -> None:
            assert self.store.entries == len(self.model)
            assert self.store.data_size == sum(map(len, self.model.values()))

        @rule()
        def scan_matches(self) -> None:
            found = full_scan(self.store, limit=3)
            assert sorted(e.key for e in found) == sorted(self.model)
            assert len(found) == len(self.model)
            for entry in found:
                assert entry.size == len(self.model[entry.key])
            backward = full_scan(self.store, reverse=True, limit=4)
            assert [e.key for e in backward] == [e.key for e in found][::-1]

        @rule()
        def all_values_match(self) -> None:
            for key, value in self.model.items():
                assert self.store.get(key) == value
                assert self.store.check(key) is True

    return StoreVsDict


def check_store_behaves_like_a_dict_across_reopen(
    make: EngineMaker, root: Path, *, examples: int = 40
) -> None:
    """Random puts, deletes, flushes and reopens, checked against a dict after every step."""
    run_state_machine_as_test(
        _dict_model_machine(make, root),
        settings=settings(
            max_examples=examples,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )


def check_seq_ids_are_not_reused_after_deleting_the_last(harness: EngineHarness) -> None:
    store = harness.store("seq", NamespaceSettings(mode="seq"))
    for i in range(3):
        store.put(store.next_id.to_bytes(8, "little"), b"v%d" % i, i)
    assert store.delete((2).to_bytes(8, "little"), 10)
    assert store.next_id == 3
    harness.engine.flush()  # type: ignore[union-attr]
    store = harness.reopen().open("seq")  # type: ignore[assignment]
    assert store is not None
    assert store.next_id == 3


ENGINE_CHECKS: tuple[Callable[[EngineHarness], None], ...] = (
    check_put_get_overwrite_delete,
    check_binary_keys_and_values,
    check_info_stored_size_contains_check,
    check_accounting_entries_and_data_size,
    check_disk_size_grows_with_overwrites,
    check_scan_empty_namespace,
    check_scan_and_rscan_over_rotations,
    check_scan_from_a_key_cursor,
    check_scan_cursor_of_a_key_survives_its_deletion,
    check_key_cursors_survive_a_reopen,
    check_a_bounded_walk_returns_every_key_once,
    check_scan_rejects_a_cursor_it_did_not_make,
    check_history_chain_across_rotations,
    check_history_of_missing_and_deleted_keys,
    check_history_rejects_foreign_and_invalid_cursors,
    check_clear,
    check_settings_persist,
    check_seq_mode_next_id,
    check_namespaces_create_open_drop,
    check_reopen_after_close_keeps_everything,
    check_seq_ids_are_not_reused_after_deleting_the_last,
)


def check_engine(
    make: EngineMaker,
    root: Path,
    *,
    data_files: DataFiles | None = None,
    examples: int = 40,
) -> None:
    """Run every check of the Engine/Store interface on engines ``make`` makes under ``root``.

    ``data_files`` lets the checks see that data spans several files (engines that rotate
    data files by datasize); ``examples``: how many random runs the dict model gets.
    """
    for check in ENGINE_CHECKS:
        harness = EngineHarness(make, root / check.__name__, data_files_of=data_files)
        harness.open()
        try:
            check(harness)
        finally:
            harness.close()
    model_root = root / "model"
    check_store_behaves_like_a_dict_across_reopen(make, model_root, examples=examples)
    shutil.rmtree(model_root, ignore_errors=True)


__all__ = ["ENGINE_CHECKS", "EngineHarness", "EngineMaker", "check_engine"]
