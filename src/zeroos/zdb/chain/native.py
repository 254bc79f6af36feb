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


def key_leaves_of(buf: bytes, count: int) -> Iterator[tuple[int, int, bytes]]:
    """(index, op, key) of the SET, DEL, FLUSH and RELEASE leaves among the first ``count``.

    What a store that keeps the leaf indices itself replays on open: one pass over a leaves
    file already checked on open, decoding only op and key (FLUSH and RELEASE with no key).
    """
    start = 6  # the record's crc32c u32 and length u16 (log.py)
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
# opening: the C scan of a leaves file, or None (log.py then runs its own loop)
scan_leaves: Callable[[bytes, int], tuple[int, int, list[int], list[tuple[int, int]]]] | None = (
    _c.scan_leaves if _c is not None else None
)
leaf_records: Callable[[list[Pending], int, bytes, int], tuple[bytes, bytes, list[int]]] = (
    _c.leaf_records if _c is not None else py_leaf_records
)

__all__ = [
    "DELETED",
    "HASHED",
    "Pending",
    "key_leaves_of",
    "leaf_records",
    "packed_root",
    "py_leaf_records",
    "py_packed_root",
    "py_sha256",
    "scan_leaves",
    "sha256",
]
