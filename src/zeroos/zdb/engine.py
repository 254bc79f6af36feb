"""The seam between zero-db's commands and the place its bytes live.

Every engine (the embedded append-only files, Tarantool) implements :class:`Engine` and
:class:`Store`; one conformance suite in the tests runs against each.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import StorageError
from .namespace import NamespaceSettings

if TYPE_CHECKING:
    from .chain.log import ChainLog
    from .chain.signing import Identity


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """What SCAN and HISTORY say about one version of a key."""

    key: bytes
    size: int
    timestamp_us: int
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a key, as HISTORY returns it."""

    info: EntryInfo
    value: bytes
    cursor: bytes | None  # where the next older version is; None when there is none


@dataclass(slots=True)
class Faults:
    """What went wrong with a namespace's files since the server started (NSINFO's stats_*)."""

    index_io_errors: int = 0
    index_io_error_last: int = 0  # unix time
    index_faults: int = 0  # index records found damaged or missing (and repaired) on open
    data_io_errors: int = 0
    data_io_error_last: int = 0
    data_faults: int = 0  # entries that failed their checksum when read (or on open)
    cuts: int = 0  # torn tails cut from data files on open (their bytes kept aside)
    cut_bytes: int = 0

    def io_error(self, where: str) -> None:
        now = int(time.time())
        if "index" in where:
            self.index_io_errors += 1
            self.index_io_error_last = now
        else:
            self.data_io_errors += 1
            self.data_io_error_last = now


class Store(ABC):
    """The keys of one namespace.

    What the commands layer decides about a namespace at run time (NSSET lock and freeze)
    lives with the commands (server/commands/session.py: Access), not here.
    """

    name: str
    settings: NamespaceSettings
    faults: Faults
    # set by the engine, never by its users, when this object stops serving its namespace
    # (dropped, gone from the database, closed by a failed reload): who holds it lets go
    dropped: bool = False
    # every engine keeps its live keys in memory, with their payload bytes and highest seq id
    _keys: Mapping[bytes, object]
    _payload: int
    _max_seq: int
    # the namespace's Merkle log (chain/log.py), None when the server runs with --no-chain
    chain: ChainLog | None = None

    @property
    def entries(self) -> int:
        """Number of live keys."""
        return len(self._keys)

    @property
    def data_size(self) -> int:
        """Payload bytes of the live keys: what the namespace's reservation (maxsize) counts."""
        return self._payload

    @property
    @abstractmethod
    def disk_size(self) -> int:
        """Bytes the namespace's data takes on disk, older versions included."""

    @property
    @abstractmethod
    def index_size(self) -> int:
        """Bytes of index this namespace holds on disk."""

    @property
    def next_id(self) -> int:
        """The id the next sequential insert gets (seq mode)."""
        return self._max_seq + 1

    @abstractmethod
    def get(self, key: bytes) -> bytes | None:
        """The current value, or None. Raises CorruptData rather than return bad bytes."""

    @abstractmethod
    def info(self, key: bytes) -> EntryInfo | None:
        """Size and time of the current value, or None."""

    @abstractmethod
    def contains(self, key: bytes) -> bool: ...

    @abstractmethod
    def stored_size(self, key: bytes) -> int | None:
        """Length of the current value without reading it, or None."""

    @abstractmethod
    def put(self, key: bytes, value: bytes, timestamp_us: int) -> None: ...

    @abstractmethod
    def delete(self, key: bytes, timestamp_us: int) -> bool:
        """Write a tombstone; False when the key did not exist."""

    @abstractmethod
    def check(self, key: bytes) -> bool | None:
        """Re-read the stored value and verify its checksum; None when the key is missing."""

    @abstractmethod
    def cursor_of(self, key: bytes) -> bytes | None:
        """An opaque cursor standing at the key's current version (KEYCUR)."""

    @abstractmethod
    def scan(
        self, cursor: bytes | None, limit: int, reverse: bool = False, walk: int = 0
    ) -> tuple[list[EntryInfo], bytes | None]:
        """Live entries after (or before) a cursor, and the cursor of the last one returned.

        ``walk`` bounds the versions looked at (0: no bound), so that a call costs the same
        however many overwritten or deleted versions lie in the way; when it stops the walk,
        the cursor is where it stopped, with fewer entries than ``limit`` (maybe none). The
        cursor is None only when nothing is left. Raises ValueError on a cursor this store
        did not make.
        """

    @abstractmethod
    def history(self, key: bytes, cursor: bytes | None) -> Version | None:
        """The version of key at cursor (the current one when cursor is None)."""

    def keys(self, prefix: bytes) -> list[bytes]:
        """The live keys that start with prefix, sorted (KSCAN)."""
        return sorted(key for key in self._keys if key.startswith(prefix))

    def chain_leaf(self, key: bytes) -> int | None:
        """Index of the chain leaf of the key's current version (its SET or DEL), or None."""
        if self.chain is None:
            return None
        self.chain.commit()  # the log learns the indices of queued leaves when it commits
        return self.chain.latest.get(key)

    @abstractmethod
    def clear(self) -> None:
        """Drop every key (FLUSH)."""

    @abstractmethod
    def save_settings(self) -> None:
        """Persist self.settings durably."""


class Engine(ABC):
    """A set of namespaces kept somewhere."""

    # the server's signing key; None when the chain is off (--no-chain)
    identity: Identity | None = None

    @abstractmethod
    def namespaces(self) -> list[str]: ...

    @abstractmethod
    def open(self, name: str) -> Store | None:
        """The namespace's store, or None when it does not exist."""

    @abstractmethod
    def create(self, name: str, settings: NamespaceSettings) -> Store: ...

    @abstractmethod
    def drop(self, name: str) -> None:
        """Remove a namespace; the store :meth:`open` gave for it gets ``dropped`` set."""

    @abstractmethod
    def reload(self, name: str) -> Store | None:
        """Read a namespace again from where it is kept (RELOAD); None when it is gone.

        Writes made so far are kept (and made durable first where the old store's files
        close). The returned store may be a new object: the caller moves its users over; the
        old one gets ``dropped`` set when it is not returned (a new object, gone, or failed).
        """

    @abstractmethod
    def flush(self) -> None:
        """Hand every buffered write to the operating system (survives a process kill)."""

    @abstractmethod
    def sync(self) -> None:
        """Make every write durable (survives a power cut)."""

    @abstractmethod
    def close(self) -> None: ...

    def folders(self) -> tuple[str, str] | None:
        """Where this engine keeps namespaces on this machine, ``(data, index)``; None when
        they live elsewhere (a Tarantool server): NSINFO then shows no paths or free space."""
        return None

    def restore_chain(
        self, store: Store, files: Sequence[bytes], identity: Identity, mark: bytes
    ) -> None:
        """Install a chain copied byte for byte (:meth:`ChainLog.export`) for ``store``,
        which this engine opened without a chain, and append the COMPACT leaf ``mark`` (the
        number of entries kept) that records the history left behind. The namespace opens
        with that chain afterwards (``zos zdb migrate``)."""
        raise StorageError(f"{type(self).__name__} cannot keep a copied chain")
