"""What check_engine's checks stand on: one engine at a time on a root, values, full scans."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..zdb.engine import Engine, EntryInfo, Store
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


def rotating_dataset(store: Store, count: int = 240, size: int = 20_000) -> list[bytes]:
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


__all__ = [
    "MIB",
    "DataFiles",
    "EngineHarness",
    "EngineMaker",
    "full_scan",
    "rotating_dataset",
    "value_of",
]
