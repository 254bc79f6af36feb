"""On-disk layouts of the embedded engine: data entries, index records, file names.

A data file (``zdb-data-NNNNN``) is a sequence of entries::

    crc32c u32 | flags u8 | keylen u8 | vallen u32 | timestamp_us u64 | prev u64 | key | value

The CRC covers everything after itself, so a torn or flipped entry never validates. ``prev`` is
the location of the key's previous version (``NO_PREV`` for none) and makes HISTORY a walk
backwards through the data files without any extra index.

An index file (``zdb-index-NNNNN``) pairs with the data file of the same number and holds one
record per entry, small enough to replay a million of them on start::

    crc32c u32 | flags u8 | keylen u8 | offset u32 | entrylen u32 | timestamp_us u64
    | key | reclen u16

The trailing ``reclen`` lets RSCAN walk the index backwards.
"""

from __future__ import annotations

import struct
from typing import Final

from crc32c import crc32c

FLAG_DELETED: Final = 0x01

DATA_HEADER: Final = struct.Struct("<IBBIQQ")
DATA_HEADER_SIZE: Final = DATA_HEADER.size  # 26
INDEX_HEADER: Final = struct.Struct("<IBBIIQ")
INDEX_HEADER_SIZE: Final = INDEX_HEADER.size  # 22
INDEX_TRAILER: Final = struct.Struct("<H")
INDEX_OVERHEAD: Final = INDEX_HEADER_SIZE + INDEX_TRAILER.size

NO_PREV: Final = 0xFFFFFFFFFFFFFFFF

# An entry's location in memory is one int: ``entrylen << 48 | fileid << 32 | offset`` (entrylen
# a u32; the low 48 bits are what ``prev`` holds on disk) and, with a chain,
# ``(leaf + 1) << LEAF_SHIFT`` above it: the index of the chain leaf of the key's current
# version, so CHAIN PROOF needs no key -> leaf map of its own (0: not known). The hot paths
# unpack it inline.
LEAF_SHIFT: Final = 80
LOC_MASK: Final = (1 << LEAF_SHIFT) - 1
MAX_FILES: Final = 0xFFFF
MAX_FILE_OFFSET: Final = 0xFFFFFFFF

# the headers without their CRC: what the CRC covers, packed once per write
DATA_BODY: Final = struct.Struct("<BBIQQ").pack
INDEX_BODY: Final = struct.Struct("<BBIIQ").pack
U16: Final = struct.Struct("<H").pack
U32: Final = struct.Struct("<I").pack


def data_name(fileid: int) -> str:
    return f"zdb-data-{fileid:05d}"


def index_name(fileid: int) -> str:
    return f"zdb-index-{fileid:05d}"


def encode_entry(flags: int, key: bytes, value: bytes, timestamp_us: int, prev: int) -> bytes:
    body = DATA_BODY(flags, len(key), len(value), timestamp_us, prev) + key + value
    return U32(crc32c(body)) + body


def encode_record(flags: int, key: bytes, offset: int, entrylen: int, timestamp_us: int) -> bytes:
    body = INDEX_BODY(flags, len(key), offset, entrylen, timestamp_us) + key
    body += U16(INDEX_OVERHEAD + len(key))
    return U32(crc32c(body)) + body


def entry_valid(entry: bytes | memoryview) -> bool:
    """True when a whole data entry's checksum matches its content."""
    if len(entry) < DATA_HEADER_SIZE:
        return False
    return int.from_bytes(entry[:4], "little") == crc32c(entry[4:])
