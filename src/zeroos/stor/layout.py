"""Where zero-stor keeps things: the metastor's keys, the shards' keys, and which server holds
which shard (rendezvous placement, healthy servers first). docs/stor.md describes the layout.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

from .backend import Backend, Metastor
from .distribution import Distribution
from .errors import DataLost, DecryptionError, ShardUnavailable, StorError, StorFull
from .metadata import (
    SHARD_HASH_SIZE,
    ChunkRef,
    FileMeta,
    ObjectMeta,
    ShardLocation,
    decode_chunks,
)
from .pipeline import Encoded, Pipeline

CLAIM_TTL = 6 * 3600.0  # seconds an upload's claims protect its blocks without a new claim
UID_SIZE = 16
_PAGE = struct.Struct(">I")


# -- metastor keys (under the "<namespace>/" prefix) ---------------------------------------------
def file_key(key: str) -> bytes:
    return b"f:" + key.encode()


def page_key(uid: bytes, page: int) -> bytes:
    return b"c:" + uid + _PAGE.pack(page)


def claim_key(uid: bytes, batch: int) -> bytes:
    return b"q:" + uid + _PAGE.pack(batch)


def obj_key(obj: bytes) -> bytes:
    return b"o:" + obj


def dedup_key(block_id: bytes) -> bytes:
    return b"d:" + block_id


def key_uid(key: bytes) -> bytes:
    """The upload uid of a page or claim key."""
    return key[2 : 2 + UID_SIZE]


def check_key(key: str) -> str:
    """A file key, refused when empty or over 200 bytes."""
    if not isinstance(key, str) or not key:
        raise StorError("a file key is a non-empty string")
    if len(key.encode()) > 200:
        raise StorError(f"file key {key[:40]!r}... is longer than 200 bytes; use a shorter key")
    return key


def shard_digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=SHARD_HASH_SIZE).digest()


def failed(exc: BaseException) -> Future[Any]:
    """A future already failed with ``exc``."""
    fut: Future[Any] = Future()
    fut.set_exception(exc)
    return fut


class Layout:
    """One configuration's servers and records: what upload, reader, health and gc share."""

    def __init__(
        self,
        prefix: bytes,
        backends: list[Backend],
        meta: Metastor,
        distribution: Distribution,
        pipeline: Pipeline,
    ) -> None:
        self.prefix = prefix
        self.backends = backends
        self.by_location = {b.location: b for b in backends}
        self.meta = meta
        self.distribution = distribution
        self.pipeline = pipeline

    # -- records ---------------------------------------------------------------------------------
    def file(self, key: str) -> FileMeta | None:
        data = self.meta.get(file_key(key))
        return None if data is None else FileMeta.decode(key, data)

    def object(self, obj: bytes) -> ObjectMeta:
        data = self.meta.get(obj_key(obj))
        if data is None:
            raise DataLost(f"object {obj.hex()[:16]} has no record in the metastor")
        return ObjectMeta.decode(data)

    def chunk_refs(self, meta: FileMeta) -> Iterator[ChunkRef]:
        for n in range(meta.pages):
            data = self.meta.get(page_key(meta.uid, n))
            if data is None:
                raise DataLost(f"file {meta.key!r} lost chunk page {n} of its metadata")
            yield from decode_chunks(data)

    # -- shards ----------------------------------------------------------------------------------
    def shard_key(self, obj: bytes, index: int) -> bytes:
        return self.prefix + obj + bytes([index])

    def ranked(self, obj: bytes) -> list[Backend]:
        """Backends in this object's rendezvous order, healthy ones first."""

        def score(b: Backend) -> tuple[bool, bytes]:
            healthy = getattr(b, "healthy", True)
            return (not healthy, hashlib.blake2b(obj + b.location.encode(), digest_size=8).digest())

        return sorted(self.backends, key=score)

    def write_shards(
        self,
        obj: bytes,
        shards: list[bytes],
        digests: list[bytes],
        indices: list[int],
        taken: set[str],
    ) -> dict[int, ShardLocation]:
        """Write shards[i] for each i in indices onto distinct backends not in ``taken``."""
        placed: dict[int, ShardLocation] = {}
        reasons: list[str] = []
        candidates = [b for b in self.ranked(obj) if b.location not in taken]
        for index in indices:
            while True:
                if not candidates:
                    full = any("full" in r for r in reasons)
                    kind = StorFull if full else ShardUnavailable
                    raise kind(
                        f"cannot place {self.distribution.total} shards of a block on "
                        f"{len(self.backends)} datastor shards ({'; '.join(reasons)}); "
                        "add shards, free space or start the missing servers"
                    )
                backend = candidates.pop(0)
                try:
                    backend.set(self.shard_key(obj, index), shards[index])
                except (ShardUnavailable, StorFull) as exc:
                    reasons.append(str(exc).split(";")[0])
                    continue
                placed[index] = ShardLocation(backend.location, digests[index])
                break
        return placed

    def shard_order(self, om: ObjectMeta) -> list[int]:
        """The shards to read first (data shards, or the first replica), healthy servers first."""
        first = range(len(om.shards)) if om.replication else range(om.data_shards)
        rest = [i for i in range(len(om.shards)) if i not in first]

        def healthy(i: int) -> bool:
            backend = self.by_location.get(om.shards[i].location)
            return backend is not None and getattr(backend, "healthy", True)

        order = [*first, *rest]
        return [i for i in order if healthy(i)] + [i for i in order if not healthy(i)]

    def read_shard(self, om: ObjectMeta, index: int) -> bytes | None:
        """Shard ``index`` of an object when it is there and intact, else None."""
        loc = om.shards[index]
        backend = self.by_location.get(loc.location)
        if backend is None:
            return None
        try:
            value = backend.get(self.shard_key(om.obj_key, index))
        except (ShardUnavailable, StorError) as exc:
            if isinstance(exc, DecryptionError):
                raise
            return None
        if value is None or shard_digest(value) != loc.digest:
            return None  # missing, or corrupt: never returned
        return value

    def payload(self, om: ObjectMeta, good: dict[int, bytes]) -> bytes:
        """An object's payload from enough intact shards."""
        dist = Distribution(om.data_shards, om.parity_shards)
        try:
            return dist.join(good, om.payload_size)
        except DataLost:
            raise DataLost(
                f"block {om.block_id.hex()[:16]} is lost: {len(good)} intact shards of "
                f"{len(om.shards)}, {dist.need} needed; restart the missing servers"
            ) from None

    def decode(self, om: ObjectMeta, good: dict[int, bytes], size: int) -> bytes:
        """A block's plain bytes from enough intact shards of its object."""
        enc = Encoded(om.compression, om.encryption, self.payload(om, good))
        return self.pipeline.decode(om.block_id, enc, size)


__all__ = [
    "CLAIM_TTL",
    "UID_SIZE",
    "Layout",
    "check_key",
    "claim_key",
    "dedup_key",
    "failed",
    "file_key",
    "key_uid",
    "obj_key",
    "page_key",
    "shard_digest",
]
