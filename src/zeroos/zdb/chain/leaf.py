"""The leaves of a namespace's log: what each mutation commits to.

One leaf, all integers big-endian::

    version u8 (1) | op u8 | seq u64 | timestamp_us u64 | nslen u8 | namespace
    | keylen u8 | key | value_hash (32, SHA-256) | extralen u16 | extra

``seq`` is the leaf's index in the log. For SET the value hash is SHA-256 of the value; for DEL
it is SHA-256 of nothing. Namespace events (creation, NSSET, reservations, FLUSH...) use ``key``
for what changed and ``extra`` for the new value in clear text (a password is never written:
only whether one is set).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

LEAF_VERSION = 1
OP_SET = 1
OP_DEL = 2
OP_CREATE = 3
OP_NSSET = 4
OP_RESERVE = 5
OP_RESERVATION = 6  # size, expiry or owner changed
OP_EXPIRE = 7  # reservation turned read-only
OP_RELEASE = 8  # reservation's data released after the grace period
OP_FLUSH = 9
OP_COMPACT = 10  # offline compaction rewrote the data: extra = number of entries kept

OP_NAMES = {
    OP_SET: "SET",
    OP_DEL: "DEL",
    OP_CREATE: "CREATE",
    OP_NSSET: "NSSET",
    OP_RESERVE: "RESERVE",
    OP_RESERVATION: "RESERVATION",
    OP_EXPIRE: "EXPIRE",
    OP_RELEASE: "RELEASE",
    OP_FLUSH: "FLUSH",
    OP_COMPACT: "COMPACT",
}
DATA_OPS = frozenset({OP_SET, OP_DEL})
EMPTY_HASH = hashlib.sha256(b"").digest()
HEAD = struct.Struct(">BBQQ")
_u16 = struct.Struct(">H")


class LeafError(ValueError):
    """Bytes that are not a leaf."""


@dataclass(frozen=True, slots=True)
class Leaf:
    op: int
    seq: int
    timestamp_us: int
    namespace: str
    key: bytes
    value_hash: bytes
    extra: bytes = b""

    @property
    def op_name(self) -> str:
        return OP_NAMES.get(self.op, f"op{self.op}")

    def encode(self) -> bytes:
        ns = self.namespace.encode()
        return (
            HEAD.pack(LEAF_VERSION, self.op, self.seq, self.timestamp_us)
            + bytes((len(ns),))
            + ns
            + bytes((len(self.key),))
            + self.key
            + self.value_hash
            + _u16.pack(len(self.extra))
            + self.extra
        )

    @classmethod
    def decode(cls, raw: bytes) -> Leaf:
        try:
            version, op, seq, ts = HEAD.unpack_from(raw, 0)
            pos = HEAD.size
            nslen = raw[pos]
            ns = raw[pos + 1 : pos + 1 + nslen].decode()
            pos += 1 + nslen
            keylen = raw[pos]
            key = raw[pos + 1 : pos + 1 + keylen]
            pos += 1 + keylen
            vhash = raw[pos : pos + 32]
            pos += 32
            (extralen,) = _u16.unpack_from(raw, pos)
            extra = raw[pos + 2 : pos + 2 + extralen]
            end = pos + 2 + extralen
        except (struct.error, IndexError, UnicodeDecodeError):
            raise LeafError("truncated or malformed leaf") from None
        if version != LEAF_VERSION or len(vhash) != 32 or end != len(raw) or len(key) != keylen:
            raise LeafError("malformed leaf")
        return cls(op, seq, ts, ns, bytes(key), bytes(vhash), bytes(extra))

    def describe(self) -> str:
        key = self.key.decode("utf-8", "replace")
        return f"leaf {self.seq} ({self.op_name} {key!r})"


def value_hash(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


__all__ = [
    "DATA_OPS",
    "EMPTY_HASH",
    "OP_COMPACT",
    "OP_CREATE",
    "OP_DEL",
    "OP_EXPIRE",
    "OP_FLUSH",
    "OP_NAMES",
    "OP_NSSET",
    "OP_RELEASE",
    "OP_RESERVATION",
    "OP_RESERVE",
    "OP_SET",
    "Leaf",
    "LeafError",
    "value_hash",
]
