"""Errors of the flist package: one root, and the kinds a caller tells apart."""

from __future__ import annotations

from ..common.errors import ZosError


class FlistError(ZosError):
    """Base class of every flist error: bad input, a refused entry, a failed operation."""


class FlistFormatError(FlistError):
    """The flist file is not a readable flist: corrupt, truncated, or missing a table."""


class BlockError(FlistError):
    """A block is missing from its store, or its bytes do not match its id or key."""


class StoreUnavailable(FlistError):
    """A block store cannot be reached; the message names the store's URL."""
