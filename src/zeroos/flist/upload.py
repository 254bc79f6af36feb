"""Cutting file content into blocks, sealing them and storing the new ones, in parallel.

Blocks are gathered into batches of about 16 MiB across files. A batch is sealed on a thread
pool, the store is asked once (``has_many``) which of its blocks it already holds, only the
missing ones are uploaded (in parallel), then the files' block rows are written in order.
One batch is sealed and uploaded while the next is read. Blocks met before (in this run, or
in the optional id cache) are hashed only, not sealed again, unless the store lacks them.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

from . import blocks
from .errors import FlistError
from .format import Flist
from .idcache import IdCache
from .models import BlockRef
from .stores import BlockStore, has_many

BATCH_BYTES = 16 * 1024 * 1024
Progress = Callable[[int], None]


@dataclass
class UploadStats:
    """What an upload did: plain bytes read, blocks referenced and blocks actually stored."""

    bytes: int = 0
    blocks: int = 0
    unique_blocks: int = 0
    stored_blocks: int = 0
    stored_bytes: int = 0
    sealed_blocks: int = 0  # compressed and encrypted here (not known from before)


class Uploader:
    """Turns file content into block rows of ``flist``, storing new blocks in ``store``."""

    def __init__(
        self,
        flist: Flist,
        store: BlockStore,
        *,
        block_size: int,
        workers: int | None = None,
        progress: Progress | None = None,
        id_cache: IdCache | None = None,
    ) -> None:
        self.flist = flist
        self.store = store
        self.block_size = block_size
        self.stats = UploadStats()
        self._progress = progress
        self._pool = ThreadPoolExecutor(workers or 2 * (os.cpu_count() or 2), "flist-seal")
        self._seen: set[bytes] = set()
        self._ids: dict[bytes, bytes] = {}  # key -> id of every block met in this run
        self._cache = id_cache
        self._cache_path = id_cache.path if id_cache is not None else None
        self._batch: list[tuple[int, bytes]] = []
        self._batch_bytes = 0
        self._queue: queue.Queue[list[tuple[int, bytes]] | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="flist-upload", daemon=True)
        self._thread.start()

    def add_file(self, ino: int, stream: IO[bytes]) -> int:
        """Queue a file's content, block by block; how many bytes it had."""
        total = 0
        while True:
            chunk = stream.read(self.block_size)
            if not chunk:
                return total
            total += len(chunk)
            self._batch.append((ino, chunk))
            self._batch_bytes += len(chunk)
            if self._batch_bytes >= BATCH_BYTES:
                self._flush()

    def _flush(self) -> None:
        self._check()
        if self._batch:
            self._queue.put(self._batch)
        self._batch = []
        self._batch_bytes = 0

    def settle(self) -> None:
        """Wait until every block queued so far is stored and its rows written."""
        self._flush()
        self._queue.join()
        self._check()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def finish(self) -> UploadStats:
        """Wait until every queued block is stored and recorded; the totals."""
        self._flush()
        self._queue.put(None)
        self._thread.join()
        self._pool.shutdown(wait=True)
        self._check()
        return self.stats

    def abort(self) -> None:
        """Stop without waiting for queued work (after an error elsewhere)."""
        self._error = self._error or FlistError("upload aborted")
        while True:  # drain so the worker sees the end marker
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        self._thread.join()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                if batch is None:
                    return
                if self._error is None:
                    self._store_batch(batch)
            except BaseException as exc:
                self._error = exc
            finally:
                self._queue.task_done()

    def _store_batch(self, batch: list[tuple[int, bytes]]) -> None:
        pool = self._pool
        keys = list(pool.map(blocks.digest, [plain for _, plain in batch]))
        plain_of = dict(zip(keys, (plain for _, plain in batch), strict=True))
        unknown = [k for k in plain_of if k not in self._ids]
        if unknown and self._cache is not None:
            self._ids.update(self._cache.lookup(unknown))
            unknown = [k for k in unknown if k not in self._ids]
        sealed: dict[bytes, bytes] = {}  # id -> ciphertext, for the blocks sealed here
        for ref, data in pool.map(lambda k: blocks.seal(k, plain_of[k]), unknown):
            self._ids[ref.key] = ref.id
            sealed[ref.id] = data
        if unknown and self._cache is not None:
            self._cache.add((k, self._ids[k]) for k in unknown)
        self.stats.sealed_blocks += len(unknown)
        id_key = {self._ids[k]: k for k in plain_of}
        ids = [i for i in id_key if i not in self._seen]
        present = has_many(self.store, ids) if ids else []
        missing = [i for i, there in zip(ids, present, strict=True) if not there]

        def upload(block_id: bytes) -> int:
            data = sealed.get(block_id)
            if data is None:  # known from the cache, but the store lacks it: seal it now
                key = id_key[block_id]
                ref, data = blocks.seal(key, plain_of[key])
                self.stats.sealed_blocks += 1
                if ref.id != block_id:
                    raise FlistError(f"{self._cache_path}: wrong id cached for a block")
            self.store.put(block_id, data)
            return len(data)

        stored = sum(pool.map(upload, missing))
        self._seen.update(ids)
        stats = self.stats
        stats.unique_blocks += len(ids)
        stats.stored_blocks += len(missing)
        stats.stored_bytes += stored
        rows: dict[int, list[BlockRef]] = {}
        for (ino, plain), key in zip(batch, keys, strict=True):
            rows.setdefault(ino, []).append(BlockRef(self._ids[key], key))
            stats.bytes += len(plain)
            stats.blocks += 1
        for ino, refs in rows.items():
            self.flist.add_blocks(ino, refs)
        if self._progress is not None:
            self._progress(sum(len(p) for _, p in batch))
