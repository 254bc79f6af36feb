"""The zero-stor client: files cut into blocks, spread over zero-db namespaces, kept repairable.

    from zeroos.stor import Stor

    with Stor.from_file("zstor.yaml") as stor:
        with open("movie.mkv", "rb") as f:
            stor.put("movie.mkv", f)
        with stor.get("movie.mkv") as stream:
            data = stream.read()

Uploads and downloads stream: a bounded window of blocks is in flight, so memory stays flat
whatever the file's size. The on-zero-db layout (keys and records) is in docs/stor.md; in short,
the file's metadata is written last, so an interrupted upload is never visible, and blocks are
content-addressed, so a block already stored is not written again.

Deleting frees blocks by mark and sweep: the blocks of every live file and of every upload in
progress (their claims, written before they look up a block) are marked, and only unmarked
candidates are removed, after a second mark that catches an upload which reused a block while
the first mark ran.
"""

from __future__ import annotations

import builtins
import concurrent.futures
import contextlib
import hashlib
import io
import itertools
import os
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal, Self, TypeVar

from . import chunker
from .backend import Backend, EncryptedBackend, Metastor, ZdbBackend
from .config import StorConfig, load_config
from .distribution import Distribution
from .errors import (
    DataLost,
    DecryptionError,
    FileNotFound,
    ShardUnavailable,
    StorError,
    StorFull,
)
from .metadata import (
    OBJ_KEY_SIZE,
    PAGE_CHUNKS,
    SHARD_HASH_SIZE,
    ChunkRef,
    FileMeta,
    ObjectMeta,
    ShardLocation,
    decode_chunks,
    encode_chunks,
    split_ids,
)
from .pipeline import ID_SIZE, Encoded, Pipeline

Progress = Callable[[int], None]
"""Called with a number of bytes each time that many more are done."""
Status = Literal["optimal", "degraded", "lost"]
_T = TypeVar("_T")

CLAIM_TTL = 6 * 3600.0  # seconds an upload's claims protect its blocks without a new claim
_PAGE = struct.Struct(">I")
_UID_SIZE = 16


def _failed(exc: BaseException) -> Future[Any]:
    fut: Future[Any] = Future()
    fut.set_exception(exc)
    return fut


def _shard_digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=SHARD_HASH_SIZE).digest()


# -- metastor keys (under the "<namespace>/" prefix) ---------------------------------------------
def _file_key(key: str) -> bytes:
    return b"f:" + key.encode()


def _page_key(uid: bytes, page: int) -> bytes:
    return b"c:" + uid + _PAGE.pack(page)


def _claim_key(uid: bytes, batch: int) -> bytes:
    return b"q:" + uid + _PAGE.pack(batch)


def _obj_key(obj: bytes) -> bytes:
    return b"o:" + obj


def _dedup_key(block_id: bytes) -> bytes:
    return b"d:" + block_id


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise StorError("a file key is a non-empty string")
    if len(key.encode()) > 200:
        raise StorError(f"file key {key[:40]!r}... is longer than 200 bytes; use a shorter key")
    return key


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The health of one file: optimal (every shard intact), degraded (repairable) or lost."""

    key: str
    status: Status
    objects: int = 0
    degraded: int = 0  # objects missing shards but still readable
    lost: int = 0  # objects that cannot be rebuilt
    bad_shards: int = 0


@dataclass(frozen=True, slots=True)
class RepairResult:
    """What :meth:`Stor.repair` did: the status before and after, and shards rewritten."""

    key: str
    before: Status
    after: Status
    shards_rebuilt: int = 0
    # why a shard could not be rebuilt (the first reason met), "" when every one was
    reason: str = ""


@dataclass(slots=True)
class _ObjectHealth:
    meta: ObjectMeta
    good: dict[int, bytes] = field(default_factory=dict)
    bad: list[int] = field(default_factory=list)


class StorReader(io.RawIOBase):
    """A downloaded file as a readable binary stream; blocks are fetched ahead in parallel."""

    def __init__(self, stor: Stor, meta: FileMeta, progress: Progress | None = None) -> None:
        super().__init__()
        self.meta = meta
        self._stor = stor
        self._refs = stor._chunk_refs(meta)
        self._window: deque[Future[bytes]] = deque()
        self._buf = memoryview(b"")
        self._progress = progress
        self._batch = max(1, stor.config.workers)
        self._fill()

    def _fill(self) -> None:
        # a batch costs one MGET of records and one MGET per server: keep one more batch in
        # flight than the one being consumed, so the network never waits for the reader
        while len(self._window) <= self._batch:
            refs = builtins.list(itertools.islice(self._refs, self._batch))
            if not refs:
                return
            self._window.extend(self._stor._fetch_blocks(refs))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        while not self._buf:
            if not self._window:
                return 0
            block = self._window.popleft().result()
            self._fill()
            self._buf = memoryview(block)
            if self._progress is not None:
                self._progress(len(block))
        n = min(len(view), len(self._buf))
        view[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def iter_blocks(self) -> Iterator[bytes]:
        """The rest of the file block by block (no copy into a caller's buffer)."""
        if self._buf:
            yield bytes(self._buf)
            self._buf = memoryview(b"")
        while self._window:
            block = self._window.popleft().result()
            self._fill()
            if self._progress is not None:
                self._progress(len(block))
            yield block

    def close(self) -> None:
        for fut in self._window:
            fut.cancel()
        self._window.clear()
        super().close()


class Stor:
    """A zero-stor client for one configuration; thread-safe."""

    def __init__(
        self,
        config: StorConfig,
        *,
        data_backends: Iterable[Backend] | None = None,
        meta_backends: Iterable[Backend] | None = None,
    ) -> None:
        self.config = config
        pipe = config.datastor.pipeline
        self.pipeline = Pipeline(pipe)
        self.distribution = Distribution.from_config(pipe.distribution)
        conns = config.workers + 4
        if data_backends is None:
            data_backends = [
                ZdbBackend(config.resolve(s), timeout=config.timeout, max_connections=conns)
                for s in config.datastor.shards
            ]
        if meta_backends is None:
            meta_backends = [
                ZdbBackend(config.resolve(s), timeout=config.timeout, max_connections=conns)
                for s in config.metastor.shards
            ]
        self.backends = list(data_backends)
        self._by_location = {b.location: b for b in self.backends}
        meta_key = config.metastor.encryption.key
        metas: list[Backend] = list(meta_backends)
        if meta_key is not None:
            metas = [EncryptedBackend(b, meta_key) for b in metas]
        self._prefix = config.namespace.encode() + b"/"
        self.meta = Metastor(metas, self._prefix)
        self._pool = ThreadPoolExecutor(config.workers, thread_name_prefix="zstor")
        # network reads that CPU work waits for: a pool of their own, so they never queue
        # behind the work that waits for them
        self._io = ThreadPoolExecutor(2 * len(self.backends) or 1, thread_name_prefix="zstor-io")
        self._sweep_lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        return cls(load_config(path))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._io.shutdown(wait=True, cancel_futures=True)
        for backend in self.backends:
            backend.close()
        self.meta.close()

    # -- placement -------------------------------------------------------------------------------
    def _shard_key(self, obj: bytes, index: int) -> bytes:
        return self._prefix + obj + bytes([index])

    def _ranked(self, obj: bytes) -> list[Backend]:
        """Backends in this object's rendezvous order, healthy ones first."""

        def score(b: Backend) -> tuple[bool, bytes]:
            healthy = getattr(b, "healthy", True)
            return (not healthy, hashlib.blake2b(obj + b.location.encode(), digest_size=8).digest())

        return sorted(self.backends, key=score)

    def _write_shards(
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
        candidates = [b for b in self._ranked(obj) if b.location not in taken]
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
                    backend.set(self._shard_key(obj, index), shards[index])
                except (ShardUnavailable, StorFull) as exc:
                    reasons.append(str(exc).split(";")[0])
                    continue
                placed[index] = ShardLocation(backend.location, digests[index])
                break
        return placed

    # -- writing ---------------------------------------------------------------------------------
    def _store_block(self, block_id: bytes, data: bytes) -> ChunkRef:
        enc = self.pipeline.encode(block_id, data)
        dist = self.distribution
        shards = dist.split(enc.payload)
        if dist.replication:
            digests = [_shard_digest(shards[0])] * dist.total
        else:
            digests = [_shard_digest(shard) for shard in shards]
        # the shard digests already bind the payload: hashing them rather than the payload
        # again saves a pass over every stored byte
        variant = hashlib.blake2b(
            b"".join(digests),
            digest_size=OBJ_KEY_SIZE - ID_SIZE,
            salt=struct.pack("<IBB", len(enc.payload), enc.compression, enc.encryption),
        ).digest()
        obj = block_id + variant
        placed = self._write_shards(obj, shards, digests, list(range(dist.total)), set())
        record = ObjectMeta(
            obj_key=obj,
            compression=enc.compression,
            encryption=enc.encryption,
            replication=dist.replication,
            data_shards=dist.k,
            parity_shards=dist.m,
            plain_size=len(data),
            payload_size=len(enc.payload),
            shards=tuple(placed[i] for i in range(dist.total)),
        )
        self.meta.set(_obj_key(obj), record.encode())
        self.meta.set(_dedup_key(block_id), obj)
        return ChunkRef(obj, len(data))

    def put(
        self,
        key: str,
        stream: BinaryIO | bytes | bytearray | memoryview | chunker.Reader,
        *,
        user: dict[str, str] | None = None,
        progress: Progress | None = None,
    ) -> FileMeta:
        """Store a stream (or bytes) under ``key``, replacing what was there; its metadata."""
        key = _check_key(key)
        if isinstance(stream, bytes | bytearray | memoryview):
            stream = io.BytesIO(stream)
        uid = os.urandom(_UID_SIZE)
        created = time.time_ns()
        group_size = max(1, self.config.workers)
        file_hash = hashlib.blake2b(key=self.pipeline.hash_key, digest_size=32)
        total = 0
        count = 0
        page: list[ChunkRef] = []
        pages = 0
        claims = 0
        window: deque[list[Future[ChunkRef]]] = deque()
        writing: dict[bytes, Future[ChunkRef]] = {}

        def drain_one() -> None:
            nonlocal pages, count
            for fut in window.popleft():
                ref = fut.result()
                page.append(ref)
                count += 1
                if progress is not None:
                    progress(ref.size)
                if len(page) == PAGE_CHUNKS:
                    self.meta.set(_page_key(uid, pages), encode_chunks(page))
                    pages += 1
                    page.clear()

        def store(group: list[tuple[bytes, Future[bytes]]]) -> None:
            nonlocal claims, total, writing
            ids = [fut.result() for _, fut in group]
            # claim before looking up: a concurrent delete's second mark will see it
            self.meta.set(_claim_key(uid, claims), b"".join(ids))
            claims += 1
            known = self.meta.mget([_dedup_key(i) for i in ids])
            futs: list[Future[ChunkRef]] = []
            for (block, _), block_id, obj in zip(group, ids, known, strict=True):
                # the ids already bind each block's bytes: hashing them, not the bytes
                # again, keeps the whole-file hash free (it was half the upload's CPU)
                file_hash.update(block_id)
                file_hash.update(len(block).to_bytes(4, "little"))
                total += len(block)
                if obj is not None and len(obj) == OBJ_KEY_SIZE:
                    done: Future[ChunkRef] = Future()
                    done.set_result(ChunkRef(obj, len(block)))
                    futs.append(done)
                elif block_id in writing:
                    futs.append(writing[block_id])
                else:
                    fut = self._pool.submit(self._store_block, block_id, block)
                    writing[block_id] = fut
                    futs.append(fut)
            window.append(futs)
            if len(writing) > 4 * group_size:
                writing = {k: f for k, f in writing.items() if not f.done()}

        blocks = chunker.chunks(stream, self.config.datastor.pipeline)
        # ids are hashed on the pool one group ahead, so hashing overlaps the stores
        hashing: deque[list[tuple[bytes, Future[bytes]]]] = deque()
        try:
            more = True
            while more or hashing:
                if more:
                    group = [b for _, b in zip(range(group_size), blocks, strict=False)]
                    more = bool(group)
                    if group:
                        hashing.append(
                            [(b, self._pool.submit(self.pipeline.block_id, b)) for b in group]
                        )
                if hashing and (len(hashing) > 1 or not more):
                    store(hashing.popleft())
                    while len(window) > 1:
                        drain_one()
            while window:
                drain_one()
            if page:
                self.meta.set(_page_key(uid, pages), encode_chunks(page))
                pages += 1
            previous = self._file(key)
            meta = FileMeta(
                key=key,
                uid=uid,
                size=total,
                created_ns=previous.created_ns if previous else created,
                modified_ns=time.time_ns(),
                chunks=count,
                pages=pages,
                file_hash=file_hash.digest(),
                user=dict(user or {}),
            )
            self.meta.set(_file_key(key), meta.encode())  # the commit point
        except BaseException:
            pending: list[Future[Any]] = [f for futs in window for f in futs]
            pending += [*writing.values(), *(f for group in hashing for _, f in group)]
            for f in pending:
                f.cancel()
            # a block write already running must end before gc() can see what it left
            concurrent.futures.wait(pending)
            self._forget(uid, pages, claims)
            raise
        self._forget(uid, 0, claims)
        if previous is not None and previous.uid != uid:
            self._release(previous)
        return meta

    def _forget(self, uid: bytes, pages: int, claims: int) -> None:
        """Remove an upload's claims (and, when it failed, its pages); best effort."""
        try:
            for n in range(claims):
                self.meta.delete(_claim_key(uid, n))
            for n in range(pages):
                self.meta.delete(_page_key(uid, n))
        except StorError:
            pass  # left over records are collected by gc()

    # -- reading ---------------------------------------------------------------------------------
    def _file(self, key: str) -> FileMeta | None:
        data = self.meta.get(_file_key(key))
        return None if data is None else FileMeta.decode(key, data)

    def metadata(self, key: str) -> FileMeta:
        """The metadata of a stored file; FileNotFound when there is none."""
        meta = self._file(_check_key(key))
        if meta is None:
            raise FileNotFound(f"no file stored under key {key!r}; see `zos stor list`")
        return meta

    def exists(self, key: str) -> bool:
        return self._file(_check_key(key)) is not None

    def list(self) -> builtins.list[FileMeta]:
        """Every stored file, sorted by key."""
        keys = [k for k, _ in self.meta.scan(b"f:")]
        out: builtins.list[FileMeta] = []
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            for k, data in zip(batch, self.meta.mget(batch), strict=True):
                if data is not None:
                    out.append(FileMeta.decode(k[2:].decode(errors="replace"), data))
        return sorted(out, key=lambda m: m.key)

    def _chunk_refs(self, meta: FileMeta) -> Iterator[ChunkRef]:
        for n in range(meta.pages):
            data = self.meta.get(_page_key(meta.uid, n))
            if data is None:
                raise DataLost(f"file {meta.key!r} lost chunk page {n} of its metadata")
            yield from decode_chunks(data)

    def _object(self, obj: bytes) -> ObjectMeta:
        data = self.meta.get(_obj_key(obj))
        if data is None:
            raise DataLost(f"object {obj.hex()[:16]} has no record in the metastor")
        return ObjectMeta.decode(data)

    def _shard_order(self, om: ObjectMeta) -> builtins.list[int]:
        first = range(len(om.shards)) if om.replication else range(om.data_shards)
        rest = [i for i in range(len(om.shards)) if i not in first]

        def healthy(i: int) -> bool:
            backend = self._by_location.get(om.shards[i].location)
            return backend is not None and getattr(backend, "healthy", True)

        order = [*first, *rest]
        return [i for i in order if healthy(i)] + [i for i in order if not healthy(i)]

    def _read_shard(self, om: ObjectMeta, index: int) -> bytes | None:
        """Shard ``index`` of an object when it is there and intact, else None."""
        loc = om.shards[index]
        backend = self._by_location.get(loc.location)
        if backend is None:
            return None
        try:
            value = backend.get(self._shard_key(om.obj_key, index))
        except (ShardUnavailable, StorError) as exc:
            if isinstance(exc, DecryptionError):
                raise
            return None
        if value is None or _shard_digest(value) != loc.digest:
            return None  # missing, or corrupt: never returned
        return value

    def _payload(self, om: ObjectMeta, good: dict[int, bytes]) -> bytes:
        dist = Distribution(om.data_shards, om.parity_shards)
        try:
            return dist.join(good, om.payload_size)
        except DataLost:
            raise DataLost(
                f"block {om.block_id.hex()[:16]} is lost: {len(good)} intact shards of "
                f"{len(om.shards)}, {dist.need} needed; restart the missing servers"
            ) from None

    def _decode(self, om: ObjectMeta, good: dict[int, bytes], size: int) -> bytes:
        enc = Encoded(om.compression, om.encryption, self._payload(om, good))
        return self.pipeline.decode(om.block_id, enc, size)

    def _fetch_blocks(self, refs: builtins.list[ChunkRef]) -> builtins.list[Future[bytes]]:
        """Start fetching blocks: their records in one MGET, then the shards each server holds
        for them in one MGET per server, all servers at once; each block decodes on the pool."""
        objs = builtins.list(dict.fromkeys(ref.obj_key for ref in refs))
        try:
            records = self.meta.mget([_obj_key(obj) for obj in objs])
        except StorError as exc:
            return [_failed(exc) for _ in refs]
        metas: dict[bytes, ObjectMeta | StorError] = {}
        wanted: dict[str, builtins.list[tuple[bytes, int]]] = {}
        for obj, data in zip(objs, records, strict=True):
            try:
                if data is None:
                    raise DataLost(f"object {obj.hex()[:16]} has no record in the metastor")
                om = ObjectMeta.decode(data)
            except StorError as exc:
                metas[obj] = exc
                continue
            metas[obj] = om
            need = 1 if om.replication else om.data_shards
            for index in self._shard_order(om)[:need]:
                wanted.setdefault(om.shards[index].location, []).append((obj, index))
        reads = {loc: self._io.submit(self._read_many, loc, items) for loc, items in wanted.items()}
        started: dict[tuple[bytes, int], Future[bytes]] = {}
        out: builtins.list[Future[bytes]] = []
        for ref in refs:
            fut = started.get((ref.obj_key, ref.size))
            if fut is None:
                om_or_error = metas[ref.obj_key]
                if isinstance(om_or_error, StorError):
                    fut = _failed(om_or_error)
                else:
                    fut = self._pool.submit(self._fetch_object, om_or_error, ref.size, reads)
                started[(ref.obj_key, ref.size)] = fut
            out.append(fut)
        return out

    def _read_many(
        self, location: str, items: builtins.list[tuple[bytes, int]]
    ) -> dict[tuple[bytes, int], bytes]:
        """The shards (object key, index) that one server returns; missing ones left out."""
        backend = self._by_location.get(location)
        if backend is None:
            return {}
        try:
            values = backend.mget([self._shard_key(obj, index) for obj, index in items])
        except StorError:
            return {}  # the careful path of each block reads elsewhere
        return {item: v for item, v in zip(items, values, strict=True) if v is not None}

    def _fetch_object(
        self,
        om: ObjectMeta,
        size: int,
        reads: dict[str, Future[dict[tuple[bytes, int], bytes]]],
    ) -> bytes:
        need = 1 if om.replication else om.data_shards
        got: dict[int, bytes] = {}
        for index in self._shard_order(om)[:need]:
            fut = reads.get(om.shards[index].location)
            value = None if fut is None else fut.result().get((om.obj_key, index))
            if value is not None:
                got[index] = value
        if len(got) == need:
            # no shard hash on this path: any flipped byte fails the AEAD tag or the block id
            # check of decode, which is one pass over the plaintext instead of one per shard
            with contextlib.suppress(DecryptionError, DataLost):
                return self._decode(om, got, size)
        # the careful path: keep the shards whose hash matches, read others until enough
        good = {i: v for i, v in got.items() if _shard_digest(v) == om.shards[i].digest}
        for index in self._shard_order(om):
            if len(good) >= need:
                break
            if index not in good:
                value = self._read_shard(om, index)
                if value is not None:
                    good[index] = value
        return self._decode(om, good, size)

    def get(self, key: str, *, progress: Progress | None = None) -> StorReader:
        """A readable stream of the file stored under ``key``; close it when done."""
        return StorReader(self, self.metadata(key), progress)

    def read(self, key: str) -> bytes:
        """The whole file in memory (small files; use :meth:`get` for large ones)."""
        with self.get(key) as stream:
            return b"".join(stream.iter_blocks())

    def download(self, key: str, out: BinaryIO, *, progress: Progress | None = None) -> int:
        """Write the file to a binary stream; the number of bytes written."""
        written = 0
        with self.get(key, progress=progress) as stream:
            for block in stream.iter_blocks():
                out.write(block)
                written += len(block)
        return written

    # -- health ----------------------------------------------------------------------------------
    def _health(self, ref: ChunkRef) -> _ObjectHealth:
        om = self._object(ref.obj_key)
        health = _ObjectHealth(om)
        for index in range(len(om.shards)):
            value = self._read_shard(om, index)
            if value is None:
                health.bad.append(index)
            else:
                health.good[index] = value
        return health

    @staticmethod
    def _status(health: _ObjectHealth) -> Status:
        om = health.meta
        if not health.bad:
            return "optimal"
        need = 1 if om.replication else om.data_shards
        return "degraded" if len(health.good) >= need else "lost"

    def _walk(
        self, meta: FileMeta, job: Callable[[ChunkRef], _T], progress: Progress | None
    ) -> Iterator[_T]:
        seen: set[bytes] = set()
        window: deque[tuple[ChunkRef, Future[_T]]] = deque()
        for ref in self._chunk_refs(meta):
            if ref.obj_key in seen:
                if progress is not None:
                    progress(ref.size)
                continue
            seen.add(ref.obj_key)
            window.append((ref, self._pool.submit(job, ref)))
            if len(window) >= 2 * self.config.workers:
                done, fut = window.popleft()
                yield fut.result()
                if progress is not None:
                    progress(done.size)
        while window:
            done, fut = window.popleft()
            yield fut.result()
            if progress is not None:
                progress(done.size)

    def check(self, key: str, *, progress: Progress | None = None) -> CheckResult:
        """Read every shard of a file and verify its hash: optimal, degraded or lost."""
        meta = self.metadata(key)
        objects = degraded = lost = bad = 0
        for status, nbad in self._walk(meta, self._check_object, progress):
            objects += 1
            bad += nbad
            degraded += status == "degraded"
            lost += status == "lost"
        overall: Status = "lost" if lost else "degraded" if degraded else "optimal"
        return CheckResult(key, overall, objects, degraded, lost, bad)

    def _check_object(self, ref: ChunkRef) -> tuple[Status, int]:
        try:
            health = self._health(ref)
        except DataLost:
            return "lost", 0
        return self._status(health), len(health.bad)

    def repair(self, key: str, *, progress: Progress | None = None) -> RepairResult:
        """Rebuild missing or corrupt shards of a file, onto healthy servers."""
        meta = self.metadata(key)
        before: Status = "optimal"
        after: Status = "optimal"
        rebuilt = 0
        reason = ""
        rank = {"optimal": 0, "degraded": 1, "lost": 2}
        for was, now, count, why in self._walk(meta, self._repair_object, progress):
            rebuilt += count
            before = max(before, was, key=rank.__getitem__)
            after = max(after, now, key=rank.__getitem__)
            reason = reason or why
        return RepairResult(key, before, after, rebuilt, reason)

    def _repair_object(self, ref: ChunkRef) -> tuple[Status, Status, int, str]:
        try:
            health = self._health(ref)
        except DataLost as exc:
            return "lost", "lost", 0, str(exc)
        status = self._status(health)
        if status != "degraded":
            return status, status, 0, ""
        om = health.meta
        payload = self._payload(om, health.good)
        shards = Distribution(om.data_shards, om.parity_shards).split(payload)
        locations = builtins.list(om.shards)
        holding = {loc.location for i, loc in enumerate(locations) if i not in health.bad}
        rebuilt = 0
        why = ""
        for index in health.bad:
            # in place first (a corrupt shard, or a wiped server that is back), else elsewhere
            home = self._by_location.get(locations[index].location)
            placed: ShardLocation | None = None
            digest = _shard_digest(shards[index])
            if home is not None and home.location not in holding:
                skey = self._shard_key(om.obj_key, index)
                try:
                    # delete first: zero-db skips a SET whose value matches the checksum it
                    # indexed, which would leave bytes corrupted on its disk in place
                    home.delete(skey)
                    home.set(skey, shards[index])
                    back = home.get(skey)
                    if back is not None and _shard_digest(back) == digest:
                        placed = ShardLocation(home.location, digest)
                except StorError:
                    placed = None
            if placed is None:
                taken = holding | {locations[index].location}
                try:
                    digests = [digest] * len(shards)
                    placed = self._write_shards(om.obj_key, shards, digests, [index], taken)[index]
                except StorError as exc:
                    why = why or str(exc)
                    continue
            locations[index] = placed
            holding.add(placed.location)
            rebuilt += 1
        fixed = ObjectMeta(
            om.obj_key,
            om.compression,
            om.encryption,
            om.replication,
            om.data_shards,
            om.parity_shards,
            om.plain_size,
            om.payload_size,
            tuple(locations),
        )
        self.meta.set(_obj_key(om.obj_key), fixed.encode())
        return status, ("optimal" if rebuilt == len(health.bad) else "degraded"), rebuilt, why

    # -- deleting --------------------------------------------------------------------------------
    def delete(self, key: str) -> None:
        """Remove a file; its blocks are freed unless another file (or an upload) uses them."""
        meta = self.metadata(key)
        self.meta.delete(_file_key(key))
        self._release(meta)

    def _release(self, meta: FileMeta) -> None:
        """Free a replaced or deleted version: its chunk pages, then its unused blocks."""
        # two puts (or a put and a delete) racing on one key both read the same previous
        # version and both release it: a page already gone was freed by the other, which
        # sweeps its blocks, so only the pages still here give candidates
        candidates: set[bytes] = set()
        for n in range(meta.pages):
            data = self.meta.get(_page_key(meta.uid, n))
            if data is not None:
                candidates.update(ref.obj_key for ref in decode_chunks(data))
                self.meta.delete(_page_key(meta.uid, n))
        self._sweep(candidates)

    def _mark(self) -> tuple[set[bytes], set[bytes], dict[str, set[bytes]]]:
        """Objects of live files and uploads, block ids claimed by uploads, and the uids."""
        entries = builtins.list(self.meta.scan(b""))
        file_keys = [k for k, _ in entries if k.startswith(b"f:")]
        uids: set[bytes] = set()
        for start in range(0, len(file_keys), 500):
            batch = file_keys[start : start + 500]
            for k, data in zip(batch, self.meta.mget(batch), strict=True):
                if data is not None:
                    uids.add(FileMeta.decode(k[2:].decode(errors="replace"), data).uid)
        now = time.time()
        claims = [(k, t) for k, t in entries if k.startswith(b"q:")]
        pending = {k[2 : 2 + _UID_SIZE] for k, t in claims if now - t < CLAIM_TTL}
        blocks: set[bytes] = set()
        claim_keys = [k for k, _ in claims if k[2 : 2 + _UID_SIZE] in pending]
        for value in self.meta.mget(claim_keys):
            if value:
                blocks.update(split_ids(value, ID_SIZE))
        live = uids | pending
        page_keys = [k for k, _ in entries if k.startswith(b"c:")]
        objs: set[bytes] = set()
        wanted = [k for k in page_keys if k[2 : 2 + _UID_SIZE] in live]
        for start in range(0, len(wanted), 50):
            for value in self.meta.mget(wanted[start : start + 50]):
                if value:
                    objs.update(split_ids(value, 44))
        objs = {o[:OBJ_KEY_SIZE] for o in objs}
        stale = {
            "pages": {k for k in page_keys if k[2 : 2 + _UID_SIZE] not in live},
            "claims": {k for k, _ in claims if k[2 : 2 + _UID_SIZE] not in pending},
        }
        return objs, blocks, stale

    def _sweep(self, candidates: set[bytes]) -> int:
        """Free the candidate objects no live file or upload uses; how many were freed."""
        if not candidates:
            return 0
        with self._sweep_lock:
            objs, blocks, _ = self._mark()
            dead = [o for o in candidates if o not in objs and o[:ID_SIZE] not in blocks]
            if not dead:
                return 0
            # unindex first, so no new upload can find them; then mark again
            indexed = self.meta.mget([_dedup_key(o[:ID_SIZE]) for o in dead])
            unindexed = {o for o, cur in zip(dead, indexed, strict=True) if cur == o}
            for o in unindexed:
                self.meta.delete(_dedup_key(o[:ID_SIZE]))
            objs, blocks, _ = self._mark()
            freed = 0
            for o in dead:
                if o in objs or o[:ID_SIZE] in blocks:
                    if o in unindexed:
                        self.meta.set(_dedup_key(o[:ID_SIZE]), o)
                    continue
                self._free_object(o)
                freed += 1
            return freed

    def _free_object(self, obj: bytes) -> None:
        data = self.meta.get(_obj_key(obj))
        if data is not None:
            om = ObjectMeta.decode(data)
            for index, loc in enumerate(om.shards):
                backend = self._by_location.get(loc.location)
                if backend is None:
                    continue
                # an unreachable server keeps an orphan shard: harmless, never read
                with contextlib.suppress(StorError):
                    backend.delete(self._shard_key(obj, index))
        self.meta.delete(_obj_key(obj))

    def gc(self) -> int:
        """Collect what interrupted uploads and lost races left: unused objects, stale pages and
        claims. Returns the number of objects freed."""
        stale = self._mark()[2]
        for k in stale["pages"] | stale["claims"]:
            self.meta.delete(k)
        objs = {k[2:] for k, _ in self.meta.scan(b"o:")}
        return self._sweep(objs)


__all__ = ["CheckResult", "Progress", "RepairResult", "Status", "Stor", "StorReader"]
