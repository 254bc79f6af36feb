"""Errors of zero-db, shared by the server and the client.

The server raises :class:`ReplyError` with 0-db's exact error line; the client maps the same
lines back to the typed exceptions below in one place (:func:`error_from_reply`).
"""

from __future__ import annotations

from ..common.errors import ZosError


class ZdbError(ZosError):
    """Base class of every zero-db error."""


class ZdbConnectionError(ZdbError):
    """The server could not be reached or the connection broke."""


class ZdbTimeoutError(ZdbConnectionError):
    """The server did not answer in time."""


class ZdbResponseError(ZdbError):
    """The server answered with an error line."""


class NamespaceNotFound(ZdbResponseError):
    """The namespace does not exist."""


class PermissionDenied(ZdbResponseError):
    """The command needs admin rights or the namespace's password."""


class NoSpaceLeft(ZdbResponseError):
    """The write would pass the namespace's reservation (maxsize)."""


class ReadOnly(ZdbResponseError):
    """The namespace is locked, frozen, or write-once and the key exists."""


class ChecksumError(ZdbResponseError):
    """A stored entry failed its checksum: the server refused to return it."""


class CorruptData(ZdbError):
    """The storage engine found bytes that do not match their checksum."""


class StorageError(ZdbError):
    """The storage engine cannot open or use its files."""


class ReplyError(Exception):
    """Raised inside the server: carries the error line (without '-') sent to the client."""

    def __init__(self, line: str, *, close: bool = False) -> None:
        super().__init__(line)
        self.line = line
        self.close = close


class VerificationError(ZdbError):
    """What the server sent does not verify against its chain; the message names what failed."""


class SignatureMismatch(VerificationError):
    """A signed head's signature is bad, or it is signed by another key than the pinned one."""


class ProofMismatch(VerificationError):
    """An inclusion or consistency proof does not lead to the signed root."""


class ValueMismatch(VerificationError):
    """A value (or leaf) does not match what the chain commits to."""


class KeyNotFound(ZdbResponseError):
    """The key does not exist or was deleted (DEL, KEYCUR, HISTORY, a seq-mode update)."""


class NoMoreData(ZdbResponseError):
    """A SCAN, RSCAN or HISTORY walk reached its end."""


# 0-db's error lines (without the leading '-') that have a typed exception; any other
# line becomes a plain ZdbResponseError carrying the line as its message.
_REPLY_ERRORS: dict[str, type[ZdbResponseError]] = {
    "Namespace not found": NamespaceNotFound,
    "This namespace doesn't exists": NamespaceNotFound,
    "Your active namespace is not available anymore (probably removed).": NamespaceNotFound,
    "Permission denied": PermissionDenied,
    "Access denied": PermissionDenied,
    "Namespace protected and private": PermissionDenied,
    "Flushing public namespace denied": PermissionDenied,
    "Unauthorized": PermissionDenied,
    "No space left on this namespace": NoSpaceLeft,
    "Namespace is temporarily locked (read-only)": ReadOnly,
    "Namespace is temporarily frozen (read-write disabled)": ReadOnly,
    "Namespace is in read-only mode": ReadOnly,
    "Namespace is protected by worm mode": ReadOnly,
    "Cannot delete a key when namespace is in worm mode": ReadOnly,
    "Reservation expired (read-only)": ReadOnly,
    "Reservation released": ReadOnly,
    "Key not found": KeyNotFound,
    "Invalid key, only update authorized": KeyNotFound,
    "No more data": NoMoreData,
    "No keys match": KeyNotFound,
    "No more history": NoMoreData,
}


def error_from_reply(line: str) -> ZdbResponseError:
    """Turn one of the server's error lines into the matching typed exception.

    This is the single place where error lines are mapped to exceptions. The message of the
    exception is always the server's line, unchanged.
    """
    kind = _REPLY_ERRORS.get(line)
    if kind is not None:
        return kind(line)
    if line.startswith("Internal Error") and ("checksum" in line or "corrupt" in line):
        return ChecksumError(line)
    return ZdbResponseError(line)
