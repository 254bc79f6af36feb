"""Freeing blocks by mark and sweep.

The blocks of every live file and of every upload in progress (their claims, written before they
look up a block) are marked, and only unmarked candidates are removed, after a second mark that
catches an upload which reused a block while the first mark ran.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

from .errors import StorError
from .layout import (
    CLAIM_TTL,
    Layout,
    claim_key,
    dedup_key,
    file_key,
    key_uid,
    obj_key,
    page_key,
)
from .metadata import OBJ_KEY_SIZE, FileMeta, ObjectMeta, decode_chunks, split_ids
from .pipeline import ID_SIZE

_BATCH = 500  # keys per MGET of file records
_PAGE_BATCH = 50  # chunk pages per MGET (each up to PAGE_CHUNKS refs)


@dataclass(slots=True)
class Marks:
    """What a mark found: objects in use, block ids claimed by uploads, stale records."""

    objects: set[bytes]
    blocks: set[bytes]
    stale: set[bytes]  # chunk pages of no live file or upload, and expired claims

    def uses(self, obj: bytes) -> bool:
        return obj in self.objects or obj[:ID_SIZE] in self.blocks


class Collector:
    """Frees unused objects of one configuration; one sweep at a time per process."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.meta = layout.meta
        self._lock = threading.Lock()

    def forget(self, uid: bytes, pages: int, claims: int) -> None:
        """Remove an upload's claims (and, when it failed, its pages); best effort."""
        try:
            for n in range(claims):
                self.meta.delete(claim_key(uid, n))
            for n in range(pages):
                self.meta.delete(page_key(uid, n))
        except StorError:
            pass  # left over records are collected by gc()

    def delete(self, meta: FileMeta) -> None:
        """Remove a file's record, then free its version."""
        self.meta.delete(file_key(meta.key))
        self.release(meta)

    def release(self, meta: FileMeta) -> None:
        """Free a replaced or deleted version: its chunk pages, then its unused blocks."""
        # two puts (or a put and a delete) racing on one key both read the same previous
        # version and both release it: a page already gone was freed by the other, which
        # sweeps its blocks, so only the pages still here give candidates
        candidates: set[bytes] = set()
        for n in range(meta.pages):
            data = self.meta.get(page_key(meta.uid, n))
            if data is not None:
                candidates.update(ref.obj_key for ref in decode_chunks(data))
                self.meta.delete(page_key(meta.uid, n))
        self.sweep(candidates)

    def mark(self) -> Marks:
        """Objects of live files and uploads, block ids claimed by uploads, stale records."""
        entries = list(self.meta.scan(b""))
        file_keys = [k for k, _ in entries if k.startswith(b"f:")]
        uids: set[bytes] = set()
        for start in range(0, len(file_keys), _BATCH):
            batch = file_keys[start : start + _BATCH]
            for k, data in zip(batch, self.meta.mget(batch), strict=True):
                if data is not None:
                    uids.add(FileMeta.decode(k[2:].decode(errors="replace"), data).uid)
        now = time.time()
        claims = [(k, t) for k, t in entries if k.startswith(b"q:")]
        pending = {key_uid(k) for k, t in claims if now - t < CLAIM_TTL}
        blocks: set[bytes] = set()
        claim_keys = [k for k, _ in claims if key_uid(k) in pending]
        for value in self.meta.mget(claim_keys):
            if value:
                blocks.update(split_ids(value, ID_SIZE))
        live = uids | pending
        page_keys = [k for k, _ in entries if k.startswith(b"c:")]
        objs: set[bytes] = set()
        wanted = [k for k in page_keys if key_uid(k) in live]
        for start in range(0, len(wanted), _PAGE_BATCH):
            for value in self.meta.mget(wanted[start : start + _PAGE_BATCH]):
                if value:
                    objs.update(split_ids(value, OBJ_KEY_SIZE + 4))  # key, 4-byte size
        stale = {k for k in page_keys if key_uid(k) not in live}
        stale |= {k for k, _ in claims if key_uid(k) not in pending}
        return Marks({o[:OBJ_KEY_SIZE] for o in objs}, blocks, stale)

    def sweep(self, candidates: set[bytes]) -> int:
        """Free the candidate objects no live file or upload uses; how many were freed."""
        if not candidates:
            return 0
        with self._lock:
            dead = [o for o in candidates if not self.mark().uses(o)]
            if not dead:
                return 0
            # unindex first, so no new upload can find them; then mark again
            indexed = self.meta.mget([dedup_key(o[:ID_SIZE]) for o in dead])
            unindexed = {o for o, cur in zip(dead, indexed, strict=True) if cur == o}
            for o in unindexed:
                self.meta.delete(dedup_key(o[:ID_SIZE]))
            marks = self.mark()
            freed = 0
            for o in dead:
                if marks.uses(o):
                    if o in unindexed:
                        self.meta.set(dedup_key(o[:ID_SIZE]), o)
                    continue
                self._free_object(o)
                freed += 1
            return freed

    def _free_object(self, obj: bytes) -> None:
        data = self.meta.get(obj_key(obj))
        if data is not None:
            om = ObjectMeta.decode(data)
            for index, loc in enumerate(om.shards):
                backend = self.layout.by_location.get(loc.location)
                if backend is None:
                    continue
                # an unreachable server keeps an orphan shard: harmless, never read
                with contextlib.suppress(StorError):
                    backend.delete(self.layout.shard_key(obj, index))
        self.meta.delete(obj_key(obj))

    def gc(self) -> int:
        """Collect what interrupted uploads and lost races left: unused objects, stale pages and
        claims. Returns the number of objects freed."""
        for k in self.mark().stale:
            self.meta.delete(k)
        objs = {k[2:] for k, _ in self.meta.scan(b"o:")}
        return self.sweep(objs)


__all__ = ["Collector", "Marks"]
