"""The embedded engine: one folder per namespace under a data and an index directory."""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..chain.signing import Identity
from ..defaults import DEFAULT_DATASIZE
from ..engine import Engine, Store
from ..errors import StorageError
from ..namespace import NamespaceSettings, valid_name
from .compact import finish_compactions
from .folders import empty_trash, move_to_trash
from .store import EmbeddedStore

MAX_DATASIZE = 0xFFFFFFFF
LOCK_FILE = ".zdb-lock"

if TYPE_CHECKING:
    from ..chain.log import ChainFactory


def release_free_heap() -> None:
    """Give the C heap's free pages back to the system after a namespace was loaded.

    Opening a big namespace reads whole index and chain files and builds a million small
    objects; glibc keeps what was freed on the way (about 40 bytes per key at 1 M keys).
    Best effort: only where glibc's malloc_trim exists.
    """
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None


def list_namespaces(indexdir: str) -> list[str]:
    """The namespaces kept in an index folder (without opening it as an engine)."""
    names = [
        entry
        for entry in os.listdir(indexdir)
        if valid_name(entry) and os.path.isdir(os.path.join(indexdir, entry))
    ]
    return sorted(names)


class EmbeddedEngine(Engine):
    """Namespaces kept in append-only files on the local disk."""

    def __init__(
        self,
        datadir: str,
        indexdir: str,
        datasize: int = DEFAULT_DATASIZE,
        *,
        chain: bool = True,
    ) -> None:
        if not 1024 * 1024 <= datasize <= MAX_DATASIZE:
            raise StorageError(
                f"datasize {datasize} is out of range: use 1 MiB to {MAX_DATASIZE} bytes"
            )
        self.datadir = os.path.abspath(datadir)
        self.indexdir = os.path.abspath(indexdir)
        self.datasize = datasize
        for folder in (self.datadir, self.indexdir):
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create {folder}: {exc.strerror}") from exc
        self._lock_fd = os.open(
            os.path.join(self.indexdir, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise StorageError(
                f"index directory {self.indexdir} is in use by another zero-db; stop it first"
            ) from None
        try:
            self.identity = Identity.load_or_create(self.indexdir) if chain else None
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._stores: dict[str, EmbeddedStore] = {}
        self._dirty: list[EmbeddedStore] = []  # writes buffered in memory
        self._unsynced: set[EmbeddedStore] = set()  # written to the kernel, not yet fsynced
        finish_compactions(self.datadir, self.indexdir)
        for folder in (self.datadir, self.indexdir):
            empty_trash(folder)

    def _paths(self, name: str) -> tuple[str, str]:
        if not valid_name(name):
            raise StorageError(f"invalid namespace name {name!r}")
        return os.path.join(self.datadir, name), os.path.join(self.indexdir, name)

    def _chain_factory(self) -> ChainFactory | None:
        identity = self.identity
        if identity is None:
            return None
        from ..chain.log import ChainLog  # imported when first needed: most opens have no chain

        # the store keeps each key's leaf index in its own map (store.py: chain_leaf)
        return lambda folder, name: ChainLog(folder, name, identity, track_latest=False)

    def namespaces(self) -> list[str]:
        return list_namespaces(self.indexdir)

    def restore_chain(
        self, store: Store, files: Sequence[bytes], identity: Identity, mark: bytes
    ) -> None:
        from ..chain.layout import CHAIN_FILES
        from ..chain.leaf import OP_COMPACT
        from ..chain.log import ChainLog

        folder = self._paths(store.name)[1]
        for fname, content in zip(CHAIN_FILES, files, strict=True):
            with open(os.path.join(folder, fname), "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
        # before the store opens with a chain: its recovery then finds the chain matching the data
        log = ChainLog(folder, store.name, identity)
        log.event(OP_COMPACT, b"", extra=mark)
        log.close()

    def open(self, name: str) -> EmbeddedStore | None:
        store = self._stores.get(name)
        if store is not None:
            return store
        datadir, indexdir = self._paths(name)
        if not os.path.isdir(indexdir):
            return None
        store = EmbeddedStore(
            name, datadir, indexdir, self.datasize, None, self._dirty.append, self._chain_factory()
        )
        self._stores[name] = store
        release_free_heap()
        return store

    def create(self, name: str, settings: NamespaceSettings) -> EmbeddedStore:
        datadir, indexdir = self._paths(name)
        if os.path.isdir(indexdir):
            raise StorageError(f"namespace '{name}' already exists")
        # data without an index folder is what a crashed NSDEL left: never the new one's
        move_to_trash(datadir)
        store = EmbeddedStore(
            name,
            datadir,
            indexdir,
            self.datasize,
            settings,
            self._dirty.append,
            self._chain_factory(),
        )
        self._stores[name] = store
        return store

    def drop(self, name: str) -> None:
        store = self.open(name)
        if store is None:
            return
        if store in self._dirty:
            self._dirty.remove(store)
        self._unsynced.discard(store)
        del self._stores[name]
        store.dropped = True
        store.remove()

    def forget(self, name: str) -> None:
        """Close a namespace's files and drop it from the cache (before its files change)."""
        store = self._stores.pop(name, None)
        if store is None:
            return
        if store in self._dirty:
            self._dirty.remove(store)
            store.flush()
        self._unsynced.discard(store)
        store.close()

    def reload(self, name: str) -> EmbeddedStore | None:
        store = self._stores.get(name)
        if store is not None:
            store.sync()  # its files close now: the group commit can't fsync them later
            self.forget(name)
            store.dropped = True  # closed: its users move to the new one (or are told)
        return self.open(name)

    def flush(self) -> None:
        dirty = self._dirty
        while dirty:
            store = dirty.pop()
            store.flush()
            self._unsynced.add(store)

    def folders(self) -> tuple[str, str]:
        return self.datadir, self.indexdir

    def sync(self) -> None:
        self.flush()
        unsynced = self._unsynced
        while unsynced:
            unsynced.pop().sync()

    def close(self) -> None:
        try:
            self.flush()
            for store in self._stores.values():
                store.close()
            self._stores.clear()
        finally:
            os.close(self._lock_fd)
