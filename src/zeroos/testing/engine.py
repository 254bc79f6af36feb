"""The conformance suite of zero-db's Engine/Store interface, run against every engine.

``check_engine(make, root)`` runs every check on engines made by ``make(root, datasize)``,
which called again with the same root must reopen what an earlier engine left there (trio's
``check_two_way_stream`` is the model). Each check gets a fresh root of its own.
"""

from __future__ import annotations

import itertools
import os
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

from ..zdb.engine import EntryInfo
from ..zdb.errors import StorageError
from ..zdb.namespace import NamespaceSettings
from .engine_harness import DataFiles, EngineHarness, EngineMaker, full_scan, rotating_dataset
from .engine_walk import (
    check_a_bounded_walk_returns_every_key_once,
    check_history_chain_across_rotations,
    check_history_of_missing_and_deleted_keys,
    check_history_rejects_foreign_and_invalid_cursors,
    check_key_cursors_survive_a_reopen,
    check_scan_and_rscan_over_rotations,
    check_scan_cursor_of_a_key_survives_its_deletion,
    check_scan_empty_namespace,
    check_scan_from_a_key_cursor,
    check_scan_rejects_a_cursor_it_did_not_make,
)


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


# -- whole namespace ------------------------------------------------------------------------
def check_clear(harness: EngineHarness) -> None:
    store = harness.store()
    rotating_dataset(store, count=100)
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


def check_folders_are_this_machines_or_none(harness: EngineHarness) -> None:
    """``folders()`` names local folders holding each namespace (NSINFO shows their paths and
    free space), or is None for an engine that keeps namespaces elsewhere."""
    engine = harness.engine
    assert engine is not None
    engine.create("where", NamespaceSettings()).put(b"k", b"v", 1)
    engine.flush()
    folders = engine.folders()
    if folders is None:
        return
    for folder in folders:
        assert os.path.isabs(folder), folder
        assert os.path.isdir(os.path.join(folder, "where")), (folder, os.listdir(folder))


def check_a_store_let_go_of_is_marked_dropped(harness: EngineHarness) -> None:
    """drop() and reload() set ``dropped`` on the store they let go of (never its users):
    the commands layer tells whoever still holds it that the namespace is gone."""
    engine = harness.engine
    assert engine is not None
    a = engine.create("a", NamespaceSettings())
    a.put(b"k", b"v", 1)
    other = engine.create("other", NamespaceSettings())
    assert (a.dropped, other.dropped) == (False, False)
    b = engine.reload("a")
    assert b is not None
    assert b.get(b"k") == b"v"
    # the same object reloaded in place serves on; an object replaced is let go of
    assert (a.dropped, b.dropped) == (b is not a, False)
    engine.drop("a")
    assert (a.dropped, b.dropped, other.dropped) == (True, True, False)
    assert engine.reload("a") is None
    fresh = engine.create("a", NamespaceSettings())
    assert (fresh.dropped, fresh.entries) == (False, 0)


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
    check_folders_are_this_machines_or_none,
    check_a_store_let_go_of_is_marked_dropped,
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
