"""Where a chain's bytes live: its files' names and record layouts, and the file protocol.

The log (log.py) keeps three append-only files per namespace (and a cache of block roots);
:class:`ChainFile` is what it needs of one, a local file (:class:`~zeroos.zdb.files.AppendFile`)
or the Tarantool engine's chunks of a replicated space (tarantool/store.py).
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Callable
from typing import Protocol

from ..files import AppendFile
from .leaf import HEAD
from .native import iter_leaf_records, record_end

LEAVES_FILE = "zdb-chain-leaves"
HASHES_FILE = "zdb-chain-hashes"
HEADS_FILE = "zdb-chain-heads"
BLOCKS_FILE = "zdb-chain-blocks"  # a cache, rebuilt when missing: not one of CHAIN_FILES
CHAIN_FILES = (LEAVES_FILE, HASHES_FILE, HEADS_FILE)
HEAD_RECORD = struct.Struct(">QQ32s64s32s")


class ChainFile(Protocol):
    """Where one of the log's three files lives: an append-only byte string.

    The embedded engine uses :class:`~zeroos.zdb.files.AppendFile` (a local file);
    the Tarantool engine keeps the bytes in a replicated space (tarantool/store.py).
    """

    path: str

    @property
    def size(self) -> int: ...

    def append(self, data: bytes) -> int: ...

    def read(self, offset: int, length: int) -> bytes: ...

    def truncate(self, size: int) -> None: ...

    def sync(self) -> None: ...

    def close(self) -> None: ...


ChainFiles = Callable[[str], ChainFile]  # file name -> the file


def read_leaf_records(buf: bytes) -> tuple[array[int], int]:
    """Offsets of the valid leaf records of a leaves file, and where the valid part ends."""
    offsets = array("Q", iter_leaf_records(buf))  # an array: no million int objects
    return offsets, record_end(buf, offsets[-1]) if offsets else 0


def leaf_key(raw: bytes) -> tuple[int, bytes]:
    """(op, key) of an encoded leaf, without decoding the rest."""
    pos = HEAD.size + 1 + raw[HEAD.size]
    return raw[1], raw[pos + 1 : pos + 1 + raw[pos]]


def local_files(folder: str) -> ChainFiles:
    """The log's files as local files in ``folder`` (the embedded engine's)."""

    def make(name: str) -> ChainFile:
        return AppendFile(os.path.join(folder, name))

    return make


__all__ = [
    "BLOCKS_FILE",
    "CHAIN_FILES",
    "HASHES_FILE",
    "HEADS_FILE",
    "HEAD_RECORD",
    "LEAVES_FILE",
    "ChainFile",
    "ChainFiles",
    "leaf_key",
    "local_files",
    "read_leaf_records",
]
