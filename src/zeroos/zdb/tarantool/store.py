"""One namespace of the Tarantool engine: its key index mirrored in memory, its reads and writes.

A store reads from Tarantool (``zdb_get``, ``zdb_scan``, ``zdb_history``) and queues its writes
on the engine (:meth:`TarantoolEngine.queue`), which sends a batch as one transaction; its chain
keeps its files as chunks in the ``zdb_chain`` space (:class:`TarantoolChainFile`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from crc32c import crc32c

from ..chain.layout import CHAIN_FILES, ChainFile
from ..chain.leaf import OP_FLUSH
from ..chain.log import ChainLog
from ..chain.signing import Identity
from ..engine import EntryInfo, Faults, Store, Version
from ..errors import StorageError
from ..namespace import NamespaceSettings

if TYPE_CHECKING:
    from .engine import TarantoolEngine

FLAG_DELETED = 1
NO_PREV = -1
ENTRY_OVERHEAD = 26  # what a version costs besides its key and value (as the embedded engine)
INDEX_OVERHEAD = 24
PAGE = 5000
CACHE_BYTES = 32 * 1024 * 1024  # per namespace: values read or written recently
CACHE_VALUE = 16 * 1024  # bigger values are not cached
SCAN_CURSOR = 6  # version id (4 bytes) + check (2)
MAX_VERSIONS = 1 << 32  # versions a namespace can write (SCAN cursors hold 4 bytes of id)
HISTORY_CURSOR = 8  # version id (6 bytes) + check (2)


def _check(raw: bytes) -> int:
    # zero for id 0, so the first entry of a namespace has an all-zero cursor (as embedded)
    return (crc32c(raw) ^ crc32c(bytes(len(raw)))) & 0xFFFF


def make_cursor(vid: int, size: int) -> bytes:
    """A cursor naming a version; a changed byte makes it invalid (it carries a check)."""
    raw = vid.to_bytes(size - 2, "little")
    return raw + _check(raw).to_bytes(2, "little")


def read_cursor(cursor: bytes, size: int) -> int:
    """The version a cursor names; ValueError when this engine did not make it."""
    if len(cursor) != size:
        raise ValueError("invalid cursor")
    raw = cursor[:-2]
    if _check(raw) != int.from_bytes(cursor[-2:], "little"):
        raise ValueError("invalid cursor")
    return int.from_bytes(raw, "little")


class TarantoolChainFile:
    """One file of a namespace's chain, kept as chunks in the ``zdb_chain`` space."""

    __slots__ = ("_buf", "_engine", "_name", "_nsid", "path")

    def __init__(self, engine: TarantoolEngine, nsid: int, name: str, content: bytes) -> None:
        self._engine = engine
        self._nsid = nsid
        self._name = name
        self._buf = bytearray(content)
        self.path = f"tarantool:{nsid}/{name}"

    @property
    def size(self) -> int:
        return len(self._buf)

    def append(self, data: bytes) -> int:
        offset = len(self._buf)
        if data:
            self._buf += data
            self._engine.queue((2, self._nsid, self._name, offset, bytes(data)))
        return offset

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self._buf[offset : offset + length])

    def truncate(self, size: int) -> None:
        del self._buf[size:]
        self._engine.queue((3, self._nsid, self._name, size))

    def sync(self) -> None:
        self._engine.flush()

    def close(self) -> None:
        """Nothing to release."""


CHAIN_NAMES = ("leaves", "hashes", "heads")  # CHAIN_FILES' names in the zdb_chain space


def chain_log(
    engine: TarantoolEngine, store: TarantoolStore, files: dict[str, bytes], identity: Identity
) -> ChainLog:
    """The store's chain over its files in the ``zdb_chain`` space (``files``: their bytes)."""
    short = dict(zip(CHAIN_FILES, CHAIN_NAMES, strict=True))

    def make(fname: str) -> ChainFile:
        name = short[fname]
        return TarantoolChainFile(engine, store.nsid, name, files[name])

    return ChainLog("", store.name, identity, make)


class TarantoolStore(Store):
    """One namespace in Tarantool, with its key index mirrored in memory."""

    def __init__(self, engine: TarantoolEngine, name: str, row: list[Any]) -> None:
        self.name = name
        self.faults = Faults()
        self._engine = engine
        self.nsid = int(row[2])
        self._keys: dict[bytes, tuple[int, int, int]] = {}  # key -> (id, size, timestamp_us)
        self._cache: dict[bytes, bytes] = {}
        self._cached = 0
        self.settings = NamespaceSettings()
        self.load(row)

    # -- loading ----------------------------------------------------------------------------
    def load(self, row: list[Any]) -> None:
        """(Re)load the namespace from its zdb_ns row: settings, key index, chain."""
        engine = self._engine
        call = engine.cluster.call
        self.settings = NamespaceSettings.from_dict(json.loads(row[3]))
        self._disk, self._index = int(row[4]), int(row[5])
        keys: dict[bytes, tuple[int, int, int]] = {}
        payload = 0
        max_seq = -1
        after: bytes | None = None
        seq = self.settings.mode == "seq"
        while True:
            page = call("zdb_keys_page", self.nsid, after, PAGE)[0]
            for key, vid, size, ts in page:
                keys[key] = (int(vid), int(size), int(ts))
                payload += int(size)
                if seq and len(key) == 8:
                    max_seq = max(max_seq, int.from_bytes(key, "little"))
            if len(page) < PAGE:
                break
            after = page[-1][0]
        if len(row) > 6:  # the highest seq id ever written, deleted ones included
            max_seq = max(max_seq, int(row[6]))
        self._keys, self._payload, self._max_seq = keys, payload, max_seq
        self._cache, self._cached = {}, 0
        self._next = int(call("zdb_last_id", self.nsid)[0]) + 1
        self.chain = None
        if engine.identity is not None:
            files = {name: self._chain_bytes(name) for name in CHAIN_NAMES}
            self.chain = chain_log(engine, self, files, engine.identity)

    def _chain_bytes(self, name: str) -> bytes:
        parts: list[bytes] = []
        after = -1
        size = 0
        while True:
            page = self._engine.cluster.call("zdb_chain_page", self.nsid, name, after, PAGE)[0]
            for offset, data in page:
                if int(offset) != size:
                    raise StorageError(
                        f"the chain of namespace '{self.name}' has a gap at {name}:{size}"
                    )
                parts.append(data)
                size += len(data)
            if len(page) < PAGE:
                return b"".join(parts)
            after = int(page[-1][0])

    # -- sizes (entries, data_size, next_id: Store's) ----------------------------------------
    @property
    def disk_size(self) -> int:
        return self._disk

    @property
    def index_size(self) -> int:
        return self._index

    # -- reading ----------------------------------------------------------------------------
    def _fetch(self, vid: int) -> list[Any] | None:
        engine = self._engine
        if engine.pending:
            engine.flush()
        row = engine.call1("zdb_get", self.nsid, vid)
        return None if row is None else list(row)

    def get(self, key: bytes) -> bytes | None:
        engine = self._engine
        if engine.stale:
            engine.refresh()
        entry = self._keys.get(key)
        if entry is None:
            return None
        value = self._cache.get(key)
        if value is not None:
            return value
        row = self._fetch(entry[0])
        entry = self._keys.get(key)  # a failover may have reloaded the mirror meanwhile
        if row is None or entry is None or row[0] != key:
            if entry is None:
                return None
            raise StorageError(f"version {entry[0]} of key {key!r} is missing in Tarantool")
        value = row[1]
        self._remember(key, value)
        return value  # type: ignore[no-any-return]

    def _remember(self, key: bytes, value: bytes) -> None:
        cache = self._cache
        old = cache.pop(key, None)
        if old is not None:
            self._cached -= len(old)
        if len(value) > CACHE_VALUE:
            return
        cache[key] = value
        self._cached += len(value)
        while self._cached > CACHE_BYTES:
            first = next(iter(cache))
            self._cached -= len(cache.pop(first))

    def _forget(self, key: bytes) -> None:
        old = self._cache.pop(key, None)
        if old is not None:
            self._cached -= len(old)

    def info(self, key: bytes) -> EntryInfo | None:
        if self._engine.stale:
            self._engine.refresh()
        entry = self._keys.get(key)
        return None if entry is None else EntryInfo(key, entry[1], entry[2])

    def contains(self, key: bytes) -> bool:
        if self._engine.stale:
            self._engine.refresh()
        return key in self._keys

    def stored_size(self, key: bytes) -> int | None:
        if self._engine.stale:
            self._engine.refresh()
        entry = self._keys.get(key)
        return None if entry is None else entry[1]

    def check(self, key: bytes) -> bool | None:
        entry = self._keys.get(key)
        if entry is None:
            return None
        row = self._fetch(entry[0])
        return row is not None and row[0] == key and len(row[1]) == entry[1]

    # -- writing ----------------------------------------------------------------------------
    def _write(self, key: bytes, value: bytes, ts: int, flags: int) -> None:
        engine = self._engine
        if engine.stale:
            engine.refresh()
        keys = self._keys
        vid = self._next
        if vid >= MAX_VERSIONS:
            raise StorageError(
                f"namespace '{self.name}' has used all {MAX_VERSIONS} version ids; "
                "migrate it (zos zdb migrate) to start again from its live keys"
            )
        self._next = vid + 1
        old = keys.get(key)
        prev = NO_PREV if old is None else old[0]
        size = len(value)
        engine.queue((1, self.nsid, vid, key, value, ts, flags, prev, size))
        if old is not None:
            self._payload -= old[1]
        self._disk += ENTRY_OVERHEAD + len(key) + size
        self._index += INDEX_OVERHEAD + len(key)
        if flags & FLAG_DELETED:
            del keys[key]
            self._forget(key)
        else:
            keys[key] = (vid, size, ts)
            self._payload += size
            self._remember(key, value)
            if len(key) == 8 and self.settings.mode == "seq":
                self._max_seq = max(self._max_seq, int.from_bytes(key, "little"))
        if self.chain is not None:
            self.chain.add(bool(flags & FLAG_DELETED), key, value, ts)
        engine.mark_dirty(self)

    def put(self, key: bytes, value: bytes, timestamp_us: int) -> None:
        self._write(key, value, timestamp_us, 0)

    def delete(self, key: bytes, timestamp_us: int) -> bool:
        if self._engine.stale:
            self._engine.refresh()
        if key not in self._keys:
            return False
        self._write(key, b"", timestamp_us, FLAG_DELETED)
        return True

    # -- walking ----------------------------------------------------------------------------
    def cursor_of(self, key: bytes) -> bytes | None:
        entry = self._keys.get(key)
        return None if entry is None else make_cursor(entry[0], SCAN_CURSOR)

    def scan(
        self, cursor: bytes | None, limit: int, reverse: bool = False, walk: int = 0
    ) -> tuple[list[EntryInfo], bytes | None]:
        # zdb_keys holds live keys only (one row per key, by version id): a page costs its
        # length in an index, whatever was overwritten, so there is nothing for walk to bound
        start = -1
        if cursor is not None:
            start = read_cursor(cursor, SCAN_CURSOR)
            if start >= self._next or self._fetch(start) is None:
                raise ValueError("cursor does not point at an entry")
        engine = self._engine
        if engine.pending:
            engine.flush()
        rows = engine.call("zdb_scan", self.nsid, start, limit, reverse)[0]
        found = [EntryInfo(key, int(size), int(ts)) for key, _vid, size, ts in rows]
        last = make_cursor(int(rows[-1][1]), SCAN_CURSOR) if rows else None
        return found, last

    def history(self, key: bytes, cursor: bytes | None) -> Version | None:
        if cursor is None:
            entry = self._keys.get(key)
            if entry is None:
                return None
            vid = entry[0]
        else:
            vid = read_cursor(cursor, HISTORY_CURSOR)
            if vid >= self._next:
                raise ValueError("invalid cursor")
        row = self._fetch(vid)
        if row is None:
            raise ValueError("invalid cursor")
        rkey, value, ts, flags, prev = row
        if rkey != key:
            raise ValueError("cursor belongs to another key")
        nxt = None if int(prev) < 0 else make_cursor(int(prev), HISTORY_CURSOR)
        return Version(
            EntryInfo(key, len(value), int(ts), bool(int(flags) & FLAG_DELETED)), value, nxt
        )

    # -- whole namespace --------------------------------------------------------------------
    def clear(self) -> None:
        engine = self._engine
        if engine.stale:
            engine.refresh()
        engine.flush()
        engine.call("zdb_ns_clear", self.nsid, False, engine.db, engine.owner)
        self._keys = {}
        self._cache, self._cached = {}, 0
        self._payload = self._disk = self._index = 0
        self._max_seq = -1
        engine.mark_dirty(self)
        if self.chain is not None:
            self.chain.event(OP_FLUSH, b"")
        engine.flush()

    def save_settings(self) -> None:
        engine = self._engine
        if engine.stale:  # reload first: the chain event that follows appends to the log
            settings = self.settings
            engine.refresh()
            self.settings = settings
        engine.queue((5, self.nsid, json.dumps(self.settings.to_dict())))
        engine.flush()

    def totals_op(self) -> tuple[Any, ...]:
        """The write that records the namespace's sizes and highest seq id (the engine's flush)."""
        return (4, self.nsid, self._disk, self._index, self._max_seq)


__all__ = [
    "CHAIN_NAMES",
    "TarantoolChainFile",
    "TarantoolStore",
    "chain_log",
    "make_cursor",
    "read_cursor",
]
