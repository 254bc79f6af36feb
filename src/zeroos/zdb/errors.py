"""Errors of zero-db, shared by the server and the client.

The server raises :class:`ReplyError` with 0-db's exact error line; the client maps the same
lines back to the typed exceptions below in one place (:func:`error_from_reply`).
"""

from __future__ import annotations


class ZdbError(Exception):
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
