"""Errors of zero-db, shared by the server and the client.

The server raises :class:`ReplyError` with 0-db's exact error line; the client maps the same
lines back to the typed exceptions below in one place (:func:`error_from_reply`).
"""

from __future__ import annotations

from typing import Final

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


# 0-db's error lines (without the leading '-'), written once: the server replies with them
# and the client maps them back to the typed exceptions (REPLY_ERRORS, error_from_reply).
NS_NOT_FOUND: Final = "Namespace not found"
NS_MISSING: Final = "This namespace doesn't exists"  # NSDEL's (sic, as 0-db says it)
NS_GONE: Final = "Your active namespace is not available anymore (probably removed)."
PERMISSION_DENIED: Final = "Permission denied"
ACCESS_DENIED: Final = "Access denied"
NS_PRIVATE: Final = "Namespace protected and private"
FLUSH_DENIED: Final = "Flushing public namespace denied"
UNAUTHORIZED: Final = "Unauthorized"
NO_SPACE: Final = "No space left on this namespace"
LOCKED: Final = "Namespace is temporarily locked (read-only)"
FROZEN: Final = "Namespace is temporarily frozen (read-write disabled)"
READ_ONLY: Final = "Namespace is in read-only mode"
WORM: Final = "Namespace is protected by worm mode"
WORM_DELETE: Final = "Cannot delete a key when namespace is in worm mode"
EXPIRED: Final = "Reservation expired (read-only)"
RELEASED: Final = "Reservation released"
KEY_NOT_FOUND: Final = "Key not found"
UPDATE_ONLY: Final = "Invalid key, only update authorized"
NO_MORE_DATA: Final = "No more data"
NO_KEYS_MATCH: Final = "No keys match"
NO_MORE_HISTORY: Final = "No more history"
PAYLOAD_TOO_BIG: Final = "Payload too big"
NOT_AN_ARRAY: Final = "Malformed request, array expected"
INTERNAL_ERROR: Final = "Internal Error"  # a prefix: ": " and what failed follow

# the lines that have a typed exception; any other line becomes a plain ZdbResponseError
# carrying the line as its message
REPLY_ERRORS: Final[dict[str, type[ZdbResponseError]]] = {
    NS_NOT_FOUND: NamespaceNotFound,
    NS_MISSING: NamespaceNotFound,
    NS_GONE: NamespaceNotFound,
    PERMISSION_DENIED: PermissionDenied,
    ACCESS_DENIED: PermissionDenied,
    NS_PRIVATE: PermissionDenied,
    FLUSH_DENIED: PermissionDenied,
    UNAUTHORIZED: PermissionDenied,
    NO_SPACE: NoSpaceLeft,
    LOCKED: ReadOnly,
    FROZEN: ReadOnly,
    READ_ONLY: ReadOnly,
    WORM: ReadOnly,
    WORM_DELETE: ReadOnly,
    EXPIRED: ReadOnly,
    RELEASED: ReadOnly,
    KEY_NOT_FOUND: KeyNotFound,
    UPDATE_ONLY: KeyNotFound,
    NO_MORE_DATA: NoMoreData,
    NO_KEYS_MATCH: KeyNotFound,
    NO_MORE_HISTORY: NoMoreData,
}

# the lines after which the server closes the connection (a client drops it, not reuses it)
CLOSING_LINES: Final = frozenset({NS_GONE, PAYLOAD_TOO_BIG, NOT_AN_ARRAY})


def error_from_reply(line: str) -> ZdbResponseError:
    """Turn one of the server's error lines into the matching typed exception.

    This is the single place where error lines are mapped to exceptions. The message of the
    exception is always the server's line, unchanged.
    """
    kind = REPLY_ERRORS.get(line)
    if kind is not None:
        return kind(line)
    if line.startswith(INTERNAL_ERROR) and ("checksum" in line or "corrupt" in line):
        return ChecksumError(line)
    return ZdbResponseError(line)
