"""Storing a file: blocks cut from a stream, hashed a group ahead on the pool, looked up in the
dedup index (after a claim that protects them from a concurrent gc), stored if new, and listed
in chunk pages; the file's record is written last, so an interrupted upload is never visible.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import struct
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from . import chunker
from .gc import Collector
from .layout import (
    UID_SIZE,
    Layout,
    claim_key,
    dedup_key,
    file_key,
    obj_key,
    page_key,
    shard_digest,
)
from .metadata import OBJ_KEY_SIZE, PAGE_CHUNKS, ChunkRef, FileMeta, ObjectMeta, encode_chunks
from .pipeline import ID_SIZE
from .reader import Progress

_Group = list[tuple[bytes, Future[bytes]]]  # blocks and their ids being hashed


def store_block(layout: Layout, block_id: bytes, data: bytes) -> ChunkRef:
    """Encode a block, write its shards, then its object record and dedup entry."""
    enc = layout.pipeline.encode(block_id, data)
    dist = layout.distribution
    shards = dist.split(enc.payload)
    if dist.replication:
        digests = [shard_digest(shards[0])] * dist.total
    else:
        digests = [shard_digest(shard) for shard in shards]
    # the shard digests already bind the payload: hashing them rather than the payload
    # again saves a pass over every stored byte
    variant = hashlib.blake2b(
        b"".join(digests),
        digest_size=OBJ_KEY_SIZE - ID_SIZE,
        salt=struct.pack("<IBB", len(enc.payload), enc.compression, enc.encryption),
    ).digest()
    obj = block_id + variant
    placed = layout.write_shards(obj, shards, digests, list(range(dist.total)), set())
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
    layout.meta.set(obj_key(obj), record.encode())
    layout.meta.set(dedup_key(block_id), obj)
    return ChunkRef(obj, len(data))


class Upload:
    """One ``put``: its uid, the chunk pages and claims written so far, blocks in flight."""

    def __init__(
        self,
        layout: Layout,
        collector: Collector,
        pool: ThreadPoolExecutor,
        group_size: int,
        progress: Progress | None,
    ) -> None:
        self.layout = layout
        self.collector = collector
        self.pool = pool
        self.group_size = max(1, group_size)
        self.progress = progress
        self.uid = os.urandom(UID_SIZE)
        self.created = time.time_ns()
        self.file_hash = hashlib.blake2b(key=layout.pipeline.hash_key, digest_size=32)
        self.total = 0  # bytes
        self.count = 0  # chunks
        self.page: list[ChunkRef] = []
        self.pages = 0
        self.claims = 0
        self.window: deque[list[Future[ChunkRef]]] = deque()  # groups being stored, in order
        self.writing: dict[bytes, Future[ChunkRef]] = {}  # block id: its store, for repeats
        self.hashing: deque[_Group] = deque()

    def run(self, key: str, stream: chunker.Reader, user: dict[str, str]) -> FileMeta:
        """Store the stream under ``key``; the previous version is released after the commit."""
        try:
            self._blocks(stream)
            self._flush_page()
            previous = self.layout.file(key)
            meta = FileMeta(
                key=key,
                uid=self.uid,
                size=self.total,
                created_ns=previous.created_ns if previous else self.created,
                modified_ns=time.time_ns(),
                chunks=self.count,
                pages=self.pages,
                file_hash=self.file_hash.digest(),
                user=user,
            )
            self.layout.meta.set(file_key(key), meta.encode())  # the commit point
        except BaseException:
            self._abort()
            raise
        self.collector.forget(self.uid, 0, self.claims)
        if previous is not None and previous.uid != self.uid:
            self.collector.release(previous)
        return meta

    def _blocks(self, stream: chunker.Reader) -> None:
        blocks = chunker.chunks(stream, self.layout.pipeline.cfg)
        # ids are hashed on the pool one group ahead, so hashing overlaps the stores
        more = True
        while more or self.hashing:
            if more:
                group = [b for _, b in zip(range(self.group_size), blocks, strict=False)]
                more = bool(group)
                if group:
                    block_id = self.layout.pipeline.block_id
                    self.hashing.append([(b, self.pool.submit(block_id, b)) for b in group])
            if self.hashing and (len(self.hashing) > 1 or not more):
                self._store(self.hashing.popleft())
                while len(self.window) > 1:
                    self._drain_one()
        while self.window:
            self._drain_one()

    def _store(self, group: _Group) -> None:
        meta = self.layout.meta
        ids = [fut.result() for _, fut in group]
        # claim before looking up: a concurrent delete's second mark will see it
        meta.set(claim_key(self.uid, self.claims), b"".join(ids))
        self.claims += 1
        known = meta.mget([dedup_key(i) for i in ids])
        futs: list[Future[ChunkRef]] = []
        for (block, _), block_id, obj in zip(group, ids, known, strict=True):
            # the ids already bind each block's bytes: hashing them, not the bytes
            # again, keeps the whole-file hash free (it was half the upload's CPU)
            self.file_hash.update(block_id)
            self.file_hash.update(len(block).to_bytes(4, "little"))
            self.total += len(block)
            if obj is not None and len(obj) == OBJ_KEY_SIZE:
                done: Future[ChunkRef] = Future()
                done.set_result(ChunkRef(obj, len(block)))
                futs.append(done)
            elif block_id in self.writing:
                futs.append(self.writing[block_id])
            else:
                fut = self.pool.submit(store_block, self.layout, block_id, block)
                self.writing[block_id] = fut
                futs.append(fut)
        self.window.append(futs)
        if len(self.writing) > 4 * self.group_size:
            self.writing = {k: f for k, f in self.writing.items() if not f.done()}

    def _drain_one(self) -> None:
        for fut in self.window.popleft():
            ref = fut.result()
            self.page.append(ref)
            self.count += 1
            if self.progress is not None:
                self.progress(ref.size)
            if len(self.page) == PAGE_CHUNKS:
                self._flush_page()

    def _flush_page(self) -> None:
        if self.page:
            self.layout.meta.set(page_key(self.uid, self.pages), encode_chunks(self.page))
            self.pages += 1
            self.page.clear()

    def _abort(self) -> None:
        pending: list[Future[Any]] = [f for futs in self.window for f in futs]
        pending += [*self.writing.values(), *(f for group in self.hashing for _, f in group)]
        for f in pending:
            f.cancel()
        # a block write already running must end before gc() can see what it left
        concurrent.futures.wait(pending)
        self.collector.forget(self.uid, self.pages, self.claims)


__all__ = ["Upload", "store_block"]
