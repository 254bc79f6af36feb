"""zero-db: key/value namespaces over RESP, with 0-db's command set; server, engines and client.

Importing this package stays light: the clients (and redis-py under them) load on first use
of :class:`Client` or :class:`AsyncClient`, so the server never pays for them, and the server
loads only with :func:`run` (``zeroos.zdb.run(ZdbSettings(...))``).

    from zeroos.zdb import Client

    with Client(port=9900, namespace="photos", password="secret") as zdb:
        zdb.set("cat.jpg", data)
"""

import typing

from ..common.lazy import lazy_exports as _lazy_exports
from .engine import Engine, EntryInfo, Store, Version
from .errors import (
    ChecksumError,
    CorruptData,
    KeyNotFound,
    NamespaceNotFound,
    NoMoreData,
    NoSpaceLeft,
    PermissionDenied,
    ProofMismatch,
    ReadOnly,
    SignatureMismatch,
    StorageError,
    ValueMismatch,
    VerificationError,
    ZdbConnectionError,
    ZdbError,
    ZdbResponseError,
    ZdbTimeoutError,
)
from .namespace import Mode, NamespaceSettings

if typing.TYPE_CHECKING:
    from .client import Client, HistoryEntry, NamespaceInfo, ScanEntry
    from .client.aio import AsyncClient
    from .client.triodriver import TrioClient
    from .main import run
    from .settings import ZdbSettings

# name -> submodule that defines it, imported on first access (PEP 562)
_LAZY = {
    "AsyncClient": ".client.aio",
    "Client": ".client",
    "HistoryEntry": ".client",
    "NamespaceInfo": ".client",
    "ScanEntry": ".client",
    "TrioClient": ".client.triodriver",
    "ZdbSettings": ".settings",
    "run": ".main",
}


__getattr__ = _lazy_exports(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AsyncClient",
    "ChecksumError",
    "Client",
    "CorruptData",
    "Engine",
    "EntryInfo",
    "HistoryEntry",
    "KeyNotFound",
    "Mode",
    "NamespaceInfo",
    "NamespaceNotFound",
    "NamespaceSettings",
    "NoMoreData",
    "NoSpaceLeft",
    "PermissionDenied",
    "ProofMismatch",
    "ReadOnly",
    "ScanEntry",
    "SignatureMismatch",
    "StorageError",
    "Store",
    "TrioClient",
    "ValueMismatch",
    "VerificationError",
    "Version",
    "ZdbConnectionError",
    "ZdbError",
    "ZdbResponseError",
    "ZdbSettings",
    "ZdbTimeoutError",
    "run",
]
