"""The chain's hot loops: the C module ``_native`` when it was built, the same loops in Python.

Every SET and DEL costs three SHA-256 calls (the value, the leaf, a share of the node hashes).
Through hashlib a call costs about 0.45 µs on Python 3.11 with OpenSSL 3 whatever the input
size, which made the chain most of a SET's cost; the C loops cost about a fifth of that. The
build compiles ``_native.c`` when it finds a C compiler and the OpenSSL headers
(scripts/_setup.sh installs them); without them these Python loops run, giving the same bytes
(tests/zdb/test_native.py runs both side by side).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator
from typing import Final

from crc32c import crc32c as _crc32c

from ..native import c_module
from .leaf import DATA_OPS, HEAD, LEAF_VERSION, OP_DEL, OP_FLUSH, OP_RELEASE, OP_SET

# (flags, key, value, timestamp_us) of a SET or DEL leaf not yet committed
Pending = tuple[int, bytes, bytes, int]
DELETED: Final = 1  # a DEL leaf (its value is b"")
HASHED: Final = 2  # the value is already its SHA-256 (a leaf rebuilt from the data)

_sha256 = hashlib.sha256
_REC = struct.Struct("<IH")  # a leaves-file record's crc32c and length (log.py)
_u16le = struct.Struct("<H").pack
_u32le = struct.Struct("<I").pack
_BYTE = [bytes((i,)) for i in range(256)]


def py_sha256(data: bytes) -> bytes:
    return _sha256(data).digest()


def py_packed_root(buf: bytes) -> bytes:
    """Root of a perfect tree whose hashes are given back to back in one buffer."""
    while len(buf) > 32:
        buf = b"".join(
            [_sha256(b"\x01" + buf[i : i + 64]).digest() for i in range(0, len(buf), 64)]
        )
    return buf


def py_leaf_records(
    pending: list[Pending], first: int, ns: bytes, mark_mask: int
) -> tuple[bytes, bytes, list[int]]:
    """The leaves-file records and leaf hashes of ``pending``, numbered from ``first``.

    ``ns`` is the namespace with its length byte in front. Returns the records
    (u32le crc32c | u16le length | leaf), the leaf hashes back to back, and the offsets in
    the records of the leaves whose number & ``mark_mask`` is 0.
    """
    records = bytearray()
    hashes = bytearray()
    marks: list[int] = []
    fixed = HEAD.size + len(ns) + 1 + 32 + 2
    pack = HEAD.pack
    join = b"".join
    n = first
    for flags, key, value, ts in pending:
        vhash = value if flags & HASHED else _sha256(value).digest()
        if len(vhash) != 32:
            raise ValueError("a value hash must be 32 bytes")
        keylen = len(key)
        leaf = join(
            (
                pack(LEAF_VERSION, OP_DEL if flags & DELETED else OP_SET, n, ts),
                ns,
                _BYTE[keylen],
                key,
                vhash,
                b"\x00\x00",
            )
        )
        hashes += _sha256(b"\x00" + leaf).digest()
        body = _u16le(fixed + keylen) + leaf
        if not n & mark_mask:
            marks.append(len(records))
        records += _u32le(_crc32c(body))
        records += body
        n += 1
    return bytes(records), bytes(hashes), marks


def iter_leaf_records(buf: bytes) -> Iterator[int]:
    """Offsets of the valid leaf records at the start of a leaves file, in order.

    A record is ``crc32c u32 | length u16 | leaf`` (log.py), the CRC over length and leaf.
    """
    pos, end = 0, len(buf)
    unpack = _REC.unpack_from
    view = memoryview(buf)
    try:
        while pos + _REC.size <= end:
            crc, length = unpack(buf, pos)
            nxt = pos + _REC.size + length
            if nxt > end or length == 0 or _crc32c(view[pos + 4 : nxt]) != crc:
                break
            yield pos
            pos = nxt
    finally:
        view.release()


def record_end(buf: bytes, offset: int) -> int:
    """Where the leaf record at offset ends."""
    return offset + _REC.size + int.from_bytes(buf[offset + 4 : offset + 6], "little")


def py_scan_leaves(buf: bytes, mark_mask: int) -> tuple[int, int, list[int], list[tuple[int, int]]]:
    """The valid leaf records at the start of a leaves file, seen in one pass.

    Returns their count, where they end, the offsets of the leaves whose index &
    ``mark_mask`` is 0, and the (index, offset) of the leaves that are not SET or DEL.
    """
    marks: list[int] = []
    events: list[tuple[int, int]] = []
    i = -1
    off = 0
    for i, off in enumerate(iter_leaf_records(buf)):
        if not i & mark_mask:
            marks.append(off)
        if buf[off + _REC.size + 1] not in DATA_OPS:
            events.append((i, off))
    n = i + 1
    return n, record_end(buf, off) if n else 0, marks, events


def key_leaves_of(buf: bytes, count: int) -> Iterator[tuple[int, int, bytes]]:
    """(index, op, key) of the SET, DEL, FLUSH and RELEASE leaves among the first ``count``.

    What a store that keeps the leaf indices itself replays on open: one pass over a leaves
    file already checked on open, decoding only op and key (FLUSH and RELEASE with no key).
    """
    start = _REC.size
    key_at = start + HEAD.size
    off = 0
    for i in range(count):
        op = buf[off + start + 1]
        if op in DATA_OPS:
            p = off + key_at + 1 + buf[off + key_at]
            yield i, op, buf[p + 1 : p + 1 + buf[p]]
        elif op in (OP_FLUSH, OP_RELEASE):
            yield i, op, b""
        off += start + (buf[off + 4] | buf[off + 5] << 8)


_c = c_module

sha256: Callable[[bytes], bytes] = _c.sha256 if _c is not None else py_sha256
packed_root: Callable[[bytes], bytes] = _c.packed_root if _c is not None else py_packed_root
scan_leaves: Callable[[bytes, int], tuple[int, int, list[int], list[tuple[int, int]]]] = (
    _c.scan_leaves if _c is not None else py_scan_leaves
)
leaf_records: Callable[[list[Pending], int, bytes, int], tuple[bytes, bytes, list[int]]] = (
    _c.leaf_records if _c is not None else py_leaf_records
)

__all__ = [
    "DELETED",
    "HASHED",
    "Pending",
    "iter_leaf_records",
    "key_leaves_of",
    "leaf_records",
    "packed_root",
    "py_leaf_records",
    "py_packed_root",
    "py_scan_leaves",
    "py_sha256",
    "record_end",
    "scan_leaves",
    "sha256",
]
