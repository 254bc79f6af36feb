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

from ...common.lease import Lease, LeaseHeld
from ..chain.leaf import OP_COMPACT, OP_CREATE
from ..chain.signing import Identity
from ..engine import Engine, Store
from ..errors import StorageError
from ..namespace import NamespaceSettings, valid_name
from .auth import resolve
from .cluster import Cluster
from .lease import TarantoolLease
from .store import CHAIN_NAMES, TarantoolChainFile, TarantoolStore, chain_log

log = logging.getLogger("zeroos.zdb")

LEASE_SECONDS = 10.0  # how long a zero-db that stopped renewing keeps its database


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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

    # -- what the stores ask of the engine --------------------------------------------------
    @property
    def stale(self) -> bool:
        """Whether a failover happened since the mirrors were loaded (refresh reloads them)."""
        return self._stale

    @property
    def pending(self) -> bool:
        """Whether writes wait for the next flush."""
        return bool(self._ops)

    def queue(self, op: tuple[Any, ...]) -> None:
        """Add a write (init.lua's apply: a tuple led by its kind) to the next flush."""
        self._ops.append(op)

    def mark_dirty(self, store: TarantoolStore) -> None:
        """The store's totals changed: the next flush records them (``totals_op``)."""
        self._dirty.add(store)

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
                    store.load(list(row))
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
            store.dropped = True
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
        try:
            store.load(list(row))
        except BaseException:
            store.dropped = True  # half loaded: a later open reads it afresh
            del self._stores[name]
            raise
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
        log = chain_log(self, own, contents, identity)
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
                self._ops.append(store.totals_op())
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
