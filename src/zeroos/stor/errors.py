"""Errors of zero-stor: one base, :class:`StorError`, whose message is one line a user can act on.

zero-db's own errors (:class:`zeroos.zdb.ZdbError`) never leave this package: the backend turns
them into the matching :class:`StorError` at the boundary (:func:`from_zdb`), naming the server
and namespace involved.
"""

from __future__ import annotations

from zeroos.common.errors import ZosError
from zeroos.zdb.errors import (
    NamespaceNotFound,
    NoSpaceLeft,
    PermissionDenied,
    ZdbConnectionError,
    ZdbError,
)


class StorError(ZosError):
    """Base of every zero-stor error; ``str(exc)`` is one line naming the thing and the fix."""


class ConfigError(StorError):
    """The configuration file is missing, not YAML, or not valid."""


class FileNotFound(StorError):
    """No file is stored under this key."""


class ShardUnavailable(StorError):
    """A zero-db server cannot be reached (or did not answer in time)."""


class AccessDenied(StorError):
    """A namespace's password is wrong, or the namespace does not exist."""


class StorFull(StorError):
    """Not enough zero-db namespaces with free space to place every shard of a block."""


class DecryptionError(StorError):
    """Stored bytes cannot be decrypted: the private key is wrong (or the bytes were altered)."""


class DataLost(StorError):
    """Too few intact shards remain to rebuild a block."""


class CorruptMetadata(StorError):
    """A metadata record cannot be decoded."""


def from_zdb(exc: ZdbError, where: str) -> StorError:
    """The zero-stor error for a zero-db error raised while talking to ``where`` (addr/ns)."""
    if isinstance(exc, ZdbConnectionError):
        return ShardUnavailable(
            f"zero-db {where} is unreachable ({exc}); start it or fix its address"
        )
    if isinstance(exc, NoSpaceLeft):
        return StorFull(f"zero-db namespace {where} is full; raise its maxsize or add shards")
    if isinstance(exc, NamespaceNotFound):
        return AccessDenied(
            f"zero-db namespace {where} does not exist; create it (NSNEW) or fix the config"
        )
    if isinstance(exc, PermissionDenied):
        return AccessDenied(f"zero-db {where} refused access ({exc}); check its password")
    return StorError(f"zero-db {where}: {exc}")


__all__ = [
    "AccessDenied",
    "ConfigError",
    "CorruptMetadata",
    "DataLost",
    "DecryptionError",
    "FileNotFound",
    "ShardUnavailable",
    "StorError",
    "StorFull",
    "from_zdb",
]
