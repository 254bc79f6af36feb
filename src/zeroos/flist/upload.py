"""Cutting file content into blocks, sealing them and storing the new ones, in parallel.

Blocks are gathered into batches of about 16 MiB across files. A batch is sealed on a thread
pool, the store is asked once (``has_many``) which of its blocks it already holds, only the
missing ones are uploaded (in parallel), then the files' block rows are written in order.
One batch is sealed and uploaded while the next is read.
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
    ) -> None:
        self.flist = flist
        self.store = store
        self.block_size = block_size
        self.stats = UploadStats()
        self._progress = progress
        self._pool = ThreadPoolExecutor(workers or 2 * (os.cpu_count() or 2), "flist-seal")
        self._seen: set[bytes] = set()
        self._zero = bytes(block_size)
        self._zero_ref: BlockRef | None = None
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

    def _seal(self, plain: bytes) -> tuple[BlockRef, bytes | None]:
        if len(plain) == self.block_size and plain == self._zero:
            # sparse files and zero-filled images: one all-zero block, sealed once
            if self._zero_ref is None:
                self._zero_ref, sealed = blocks.encode(plain)
                return self._zero_ref, sealed
            return self._zero_ref, None
        return blocks.encode(plain)

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if self._error is not None:
                continue
            try:
                self._store_batch(batch)
            except BaseException as exc:
                self._error = exc

    def _store_batch(self, batch: list[tuple[int, bytes]]) -> None:
        sealed = list(self._pool.map(self._seal, [plain for _, plain in batch]))
        fresh: dict[bytes, bytes] = {}
        for ref, data in sealed:
            if ref.id not in self._seen and ref.id not in fresh and data is not None:
                fresh[ref.id] = data
        ids = list(fresh)
        present = has_many(self.store, ids) if ids else []
        missing = [i for i, there in zip(ids, present, strict=True) if not there]
        list(self._pool.map(lambda i: self.store.put(i, fresh[i]), missing))
        self._seen.update(ids)
        stats = self.stats
        stats.unique_blocks += len(ids)
        stats.stored_blocks += len(missing)
        stats.stored_bytes += sum(len(fresh[i]) for i in missing)
        rows: dict[int, list[BlockRef]] = {}
        for (ino, plain), (ref, _) in zip(batch, sealed, strict=True):
            rows.setdefault(ino, []).append(ref)
            stats.bytes += len(plain)
            stats.blocks += 1
        for ino, refs in rows.items():
            self.flist.add_blocks(ino, refs)
        if self._progress is not None:
            self._progress(sum(len(p) for _, p in batch))
