"""The Tarantool engine: namespaces kept in the spaces of a (replicated) Tarantool.

Spaces (init.lua; all vinyl; a commit returns only once the replica set's quorum holds it,
which init.lua waits for itself as 2.6.0's ``is_sync`` stalls): ``zdb_ns`` (namespaces and
their settings), ``zdb_data`` (every version of every key: ``nsid, id, key, value, timestamp,
flags, prev``; ``prev`` links a version to the one before, which is what HISTORY walks),
``zdb_keys`` (the current version of each live key, by key and by id: SCAN walks it in write
order) and ``zdb_chain`` (the bytes of each namespace's Merkle log, so the chain lives with the
data on every copy).

One zero-db server writes to a replica set at a time. It keeps a mirror of each open
namespace's key index in memory (sizes, versions, counts; the chain's hashes) and queues the
writes of a batch of commands; :meth:`TarantoolEngine.flush` sends the batch as one
transaction before the batch's replies go out (the server groups the batches of every
connection served in one event-loop iteration into one flush). After a failover the mirrors are
reloaded from the new leader. A lease record (``zdb_lease``: owner, expiry), taken at start and
renewed by a thread, keeps a second zero-db off the same database: two would overwrite each
other's ids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crc32c import crc32c

from ...common.lease import Lease, LeaseHeld
from ..chain.leaf import OP_COMPACT, OP_CREATE, OP_FLUSH
from ..chain.log import CHAIN_FILES, ChainFile, ChainLog
from ..chain.signing import Identity
from ..engine import Engine, EntryInfo, Faults, Store, Version
from ..errors import StorageError
from ..namespace import NamespaceSettings, valid_name
from .auth import resolve
from .cluster import Cluster
from .lease import TarantoolLease

log = logging.getLogger("zeroos.zdb")

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
LEASE_SECONDS = 10.0  # how long a zero-db that stopped renewing keeps its database


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


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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
            self._engine._ops.append((2, self._nsid, self._name, offset, bytes(data)))
        return offset

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self._buf[offset : offset + length])

    def truncate(self, size: int) -> None:
        del self._buf[size:]
        self._engine._ops.append((3, self._nsid, self._name, size))

    def sync(self) -> None:
        self._engine.flush()

    def close(self) -> None:
        """Nothing to release."""


CHAIN_NAMES = ("leaves", "hashes", "heads")  # CHAIN_FILES' names in the zdb_chain space


def _chain_log(
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
        self._load(row)

    # -- loading ----------------------------------------------------------------------------
    def _load(self, row: list[Any]) -> None:
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
            self.chain = _chain_log(engine, self, files, engine.identity)

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

    # -- sizes ------------------------------------------------------------------------------
    @property
    def entries(self) -> int:
        return len(self._keys)

    @property
    def data_size(self) -> int:
        return self._payload

    @property
    def disk_size(self) -> int:
        return self._disk

    @property
    def index_size(self) -> int:
        return self._index

    @property
    def next_id(self) -> int:
        return self._max_seq + 1

    # -- reading ----------------------------------------------------------------------------
    def _fetch(self, vid: int) -> list[Any] | None:
        engine = self._engine
        if engine._ops:
            engine.flush()
        row = engine.call1("zdb_get", self.nsid, vid)
        return None if row is None else list(row)

    def get(self, key: bytes) -> bytes | None:
        engine = self._engine
        if engine._stale:
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
        if self._engine._stale:
            self._engine.refresh()
        entry = self._keys.get(key)
        return None if entry is None else EntryInfo(key, entry[1], entry[2])

    def contains(self, key: bytes) -> bool:
        if self._engine._stale:
            self._engine.refresh()
        return key in self._keys

    def stored_size(self, key: bytes) -> int | None:
        if self._engine._stale:
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
        if engine._stale:
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
        engine._ops.append((1, self.nsid, vid, key, value, ts, flags, prev, size))
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
        engine._dirty.add(self)

    def put(self, key: bytes, value: bytes, timestamp_us: int) -> None:
        self._write(key, value, timestamp_us, 0)

    def delete(self, key: bytes, timestamp_us: int) -> bool:
        if self._engine._stale:
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
        if engine._ops:
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
        if engine._stale:
            engine.refresh()
        engine.flush()
        engine.call("zdb_ns_clear", self.nsid, False, engine.db, engine.owner)
        self._keys = {}
        self._cache, self._cached = {}, 0
        self._payload = self._disk = self._index = 0
        self._max_seq = -1
        engine._dirty.add(self)
        if self.chain is not None:
            self.chain.event(OP_FLUSH, b"")
        engine.flush()

    def save_settings(self) -> None:
        engine = self._engine
        if engine._stale:  # reload first: the chain event that follows appends to the log
            settings = self.settings
            engine.refresh()
            self.settings = settings
        engine._ops.append((5, self.nsid, json.dumps(self.settings.to_dict())))
        engine.flush()


class TarantoolEngine(Engine):
    """Namespaces kept in a Tarantool replica set (see init.lua and docs/zdb.md)."""

    def __init__(
        self,
        addresses: str | list[tuple[str, int]],
        db: str = "",
        *,
        keydir: str | None = None,
        chain: bool = True,
        timeout: float = 10.0,
        password_file: str | Path | None = None,
        password: str | None = None,
    ) -> None:
        if not isinstance(addresses, str):
            addresses = ",".join(f"{h}:{p}" for h, p in addresses)
        plain, credentials = resolve(addresses, password_file, password)
        self.cluster = Cluster(plain, timeout=timeout, credentials=credentials)
        self.cluster.on_failover = self._failed_over
        self.db = db
        which = f"database '{db}'" if db else "the default database"
        self._lease_row = TarantoolLease(self.cluster, db)
        self.lease = Lease(self._lease_row, seconds=LEASE_SECONDS, where=f"tarantool {which}")
        self.owner = self.lease.owner  # every write names it: init.lua refuses a lost lease
        self._stores: dict[str, TarantoolStore] = {}
        self._ops: list[tuple[Any, ...]] = []
        self._dirty: set[TarantoolStore] = set()
        self._stale = False
        if chain:
            if keydir is None:
                raise StorageError("the chain needs a folder for the server's signing key")
            self.identity = Identity.load_or_create(keydir)
        else:
            self.identity = None
        try:
            self._take_lease()  # fails now, clearly, when no member answers or another runs
        except BaseException:
            self.cluster.close()
            raise

    @property
    def location(self) -> str:
        return f"tarantool://{self.cluster.names}/{self.db}"

    def _failed_over(self) -> None:
        self._stale = True

    # -- one zero-db per database -----------------------------------------------------------
    def _take_lease(self) -> None:
        try:
            self.lease.acquire()
        except LeaseHeld as exc:
            which = f"database '{self.db}'" if self.db else "the default database"
            held = exc.holding
            who = "" if held is None else f" ({held.owner.describe()}, its lease ends in "
            who += "" if held is None else f"{max(0.0, held.seconds_left):.0f}s unless renewed)"
            raise StorageError(
                f"tarantool: {which} is in use by another zero-db{who}: stop it, "
                "or serve another --tarantool-db"
            ) from None
        # renewals run in the lease's thread, which must not fail over (cluster.call)
        self._lease_row.failover = False
        self.lease.start()

    def call(self, func: str, *args: Any) -> list[Any]:
        result = self.cluster.call(func, *args)
        if self._stale and not self._ops:
            self.refresh()
        return result

    def call1(self, func: str, *args: Any) -> Any:
        """The first value a function returned (None when it returned nothing or nil)."""
        result = self.call(func, *args)
        return result[0] if result else None

    def refresh(self) -> None:
        """Reload every open namespace from the (new) leader after a failover."""
        self._ops = []
        self._dirty.clear()
        self._stale = False
        try:
            for name, store in list(self._stores.items()):
                rows = self.cluster.call("zdb_ns_get", self.db, name)
                row = rows[0] if rows else None
                if row is None:
                    store.dropped = True
                    del self._stores[name]
                else:
                    store._load(list(row))
        except BaseException:
            self._stale = True
            raise
        log.info("event=tarantool_reloaded namespaces=%d", len(self._stores))

    def namespaces(self) -> list[str]:
        return sorted(_text(n) for n in self.call("zdb_ns_list", self.db)[0])

    def open(self, name: str) -> TarantoolStore | None:
        if self._stale:
            self.refresh()
        store = self._stores.get(name)
        if store is not None:
            return store
        if not valid_name(name):
            return None
        row = self.call1("zdb_ns_get", self.db, name)
        if row is None:
            return None
        store = TarantoolStore(self, name, list(row))
        self._stores[name] = store
        return store

    def create(self, name: str, settings: NamespaceSettings) -> TarantoolStore:
        if not valid_name(name):
            raise StorageError(f"invalid namespace name {name!r}")
        self.flush()
        settings_text = json.dumps(settings.to_dict())
        nsid = self.call1("zdb_ns_create", self.db, name, settings_text, self.owner)
        if nsid is None:
            raise StorageError(f"namespace '{name}' already exists")
        store = self.open(name)
        if store is None:
            raise StorageError(f"namespace '{name}' vanished after its creation")
        if store.chain is not None and store.chain.size == 0:
            s = store.settings
            text = f"mode={s.mode} public={int(s.public)} maxsize={s.maxsize}"
            store.chain.event(OP_CREATE, b"namespace", extra=text.encode())
        return store

    def drop(self, name: str) -> None:
        self.flush()
        store = self._stores.pop(name, None)
        if store is not None:
            self._dirty.discard(store)
        self.call("zdb_ns_drop", self.db, name, self.owner)

    def reload(self, name: str) -> TarantoolStore | None:
        self.flush()
        store = self._stores.get(name)
        row = self.call1("zdb_ns_get", self.db, name)
        if store is None or row is None:
            if store is not None:
                store.dropped = True
                del self._stores[name]
            return None if row is None else self.open(name)
        store._load(list(row))
        return store

    def restore_chain(
        self, store: Store, files: Sequence[bytes], identity: Identity, mark: bytes
    ) -> None:
        own = self.open(store.name)
        if own is None:
            raise StorageError(f"namespace '{store.name}' is not in {self.location}")
        contents = dict(zip(CHAIN_NAMES, files, strict=True))
        for name, content in contents.items():
            TarantoolChainFile(self, own.nsid, name, b"").append(content)
        self.flush()
        log = _chain_log(self, own, contents, identity)
        log.event(OP_COMPACT, b"", extra=mark)
        log.commit()
        self.flush()

    def flush(self) -> None:
        """Send the queued writes as one transaction; returns once a quorum holds them."""
        dirty = self._dirty
        if dirty:
            for store in dirty:
                if store.chain is not None:
                    store.chain.commit()
                self._ops.append((4, store.nsid, store._disk, store._index, store._max_seq))
            dirty.clear()
        ops = self._ops
        if not ops:
            return
        self._ops = []
        try:
            self.cluster.call("zdb_apply", ops, self.db, self.owner)
        except StorageError:
            # the batch may or may not be committed: the mirrors are reloaded before any use
            self._stale = True
            raise
        if self._stale:
            self.refresh()

    def sync(self) -> None:
        self.flush()  # a synchronous commit is already on a quorum of copies

    def close(self) -> None:
        try:
            self.flush()  # while the lease is held: init.lua refuses writes without it
        finally:
            self._stores.clear()
            self.lease.release(timeout=LEASE_SECONDS)  # deletes it if still ours
            self.cluster.close()


__all__ = ["TarantoolChainFile", "TarantoolEngine", "TarantoolStore"]
