"""Metadata records and their compact binary encoding (struct-packed, versioned).

Records kept in the metastor (keys in docs/stor.md):

* :class:`FileMeta` - one stored file: size, times, whole-file hash, user fields, and how many
  chunk pages list its blocks;
* chunk pages - the file's blocks in order, 44 bytes each (object key + plaintext size);
* :class:`ObjectMeta` - one stored block: codecs, sizes, and where each shard lives with its hash.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from .errors import CorruptMetadata

OBJ_KEY_SIZE: Final = 40  # block id (32) + variant (8): the hash of the stored payload
SHARD_HASH_SIZE: Final = 16
_FILE = struct.Struct("<2sB16sQQQQI32sI")
_OBJ = struct.Struct("<2sB40sBBBBBII")
_CHUNK = struct.Struct("<40sI")
CHUNK_SIZE: Final = _CHUNK.size
PAGE_CHUNKS: Final = 32768  # chunks per page: 1.4 MB records, well under zero-db's 8 MiB


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """One block of a file: the object holding it and its plaintext size."""

    obj_key: bytes
    size: int

    @property
    def block_id(self) -> bytes:
        return self.obj_key[:32]


def encode_chunks(chunks: list[ChunkRef]) -> bytes:
    return b"".join(_CHUNK.pack(c.obj_key, c.size) for c in chunks)


def decode_chunks(data: bytes) -> list[ChunkRef]:
    if len(data) % CHUNK_SIZE:
        raise CorruptMetadata("a chunk page has a truncated entry")
    return [ChunkRef(k, s) for k, s in _CHUNK.iter_unpack(data)]


def split_ids(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@dataclass(frozen=True, slots=True)
class FileMeta:
    """One stored file, as :meth:`Stor.metadata` returns it."""

    key: str
    uid: bytes  # this version's id: its chunk pages and claims are keyed by it
    size: int
    created_ns: int
    modified_ns: int
    chunks: int
    pages: int
    file_hash: bytes  # keyed blake2b-256 over the block ids and sizes, in order
    user: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        user = json.dumps(self.user, separators=(",", ":"), sort_keys=True).encode()
        head = _FILE.pack(
            b"ZF",
            1,
            self.uid,
            self.size,
            self.created_ns,
            self.modified_ns,
            self.chunks,
            self.pages,
            self.file_hash,
            len(user),
        )
        return head + user

    @classmethod
    def decode(cls, key: str, data: bytes) -> FileMeta:
        try:
            magic, ver, uid, size, created, modified, chunks, pages, fhash, ulen = (
                _FILE.unpack_from(data)
            )
            if magic != b"ZF" or ver != 1:
                raise ValueError("bad magic")
            user = json.loads(data[_FILE.size : _FILE.size + ulen])
        except (struct.error, ValueError) as exc:
            raise CorruptMetadata(f"metadata of {key!r} cannot be decoded ({exc})") from None
        return cls(key, uid, size, created, modified, chunks, pages, fhash, user)

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "size": self.size,
            "chunks": self.chunks,
            "created_ns": self.created_ns,
            "modified_ns": self.modified_ns,
            "hash": self.file_hash.hex(),
            "version": self.uid.hex(),
            "user": dict(self.user),
        }


@dataclass(frozen=True, slots=True)
class ShardLocation:
    """Where one shard lives (``host:port/namespace``) and the blake2b-128 of its bytes."""

    location: str
    digest: bytes


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """One stored block: how it was encoded and where its shards are."""

    obj_key: bytes
    compression: int
    encryption: int
    replication: bool
    data_shards: int
    parity_shards: int
    plain_size: int
    payload_size: int
    shards: tuple[ShardLocation, ...]

    @property
    def block_id(self) -> bytes:
        return self.obj_key[:32]

    def encode(self) -> bytes:
        parts = [
            _OBJ.pack(
                b"ZO",
                1,
                self.obj_key,
                self.compression,
                self.encryption,
                int(self.replication),
                self.data_shards,
                self.parity_shards,
                self.plain_size,
                self.payload_size,
            ),
            bytes([len(self.shards)]),
        ]
        for shard in self.shards:
            loc = shard.location.encode()
            parts += [bytes([len(loc)]), loc, shard.digest]
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> ObjectMeta:
        try:
            magic, ver, key, comp, enc, repl, k, m, plain, payload = _OBJ.unpack_from(data)
            if magic != b"ZO" or ver != 1:
                raise ValueError("bad magic")
            pos = _OBJ.size
            count = data[pos]
            pos += 1
            shards = []
            for _ in range(count):
                size = data[pos]
                loc = data[pos + 1 : pos + 1 + size].decode()
                pos += 1 + size
                digest = data[pos : pos + SHARD_HASH_SIZE]
                pos += SHARD_HASH_SIZE
                if len(digest) != SHARD_HASH_SIZE:
                    raise ValueError("truncated")
                shards.append(ShardLocation(loc, digest))
        except (struct.error, ValueError, IndexError) as exc:
            raise CorruptMetadata(f"an object record cannot be decoded ({exc})") from None
        return cls(key, comp, enc, bool(repl), k, m, plain, payload, tuple(shards))


__all__ = [
    "CHUNK_SIZE",
    "OBJ_KEY_SIZE",
    "PAGE_CHUNKS",
    "ChunkRef",
    "FileMeta",
    "ObjectMeta",
    "ShardLocation",
    "decode_chunks",
    "encode_chunks",
    "split_ids",
]
