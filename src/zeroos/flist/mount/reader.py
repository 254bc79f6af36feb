"""Blocks for a mount: from memory, the shared cache or the store, verified, with prefetch."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections import OrderedDict

from ..blocks import unseal
from ..errors import BlockError, StoreUnavailable
from ..models import BlockRef
from ..stores import BlockStore
from .cache import BlockCache

log = logging.getLogger(__name__)

# Blocks waiting for the cache writer, at most; past it a fetch writes its block itself.
_WRITES_QUEUED = 64


class BlockReader:
    """Plain blocks by reference: decoded blocks in memory, their ciphertext in the disk cache.

    Each block is checked against its id (and AES-GCM's tag) before use, from the store or the
    cache alike; hashing the plain bytes again against the key is skipped (see blocks.unseal).
    Plain blocks are read-only memoryviews: nothing copies them before the kernel does.

    Every fetch runs on a small thread pool, so a read can wait for its block with a deadline
    (a store that stops answering makes the read fail, never hang) and the blocks after a
    sequential read are fetched while the reader is still busy with the current one. Two reads
    of the same block share one fetch.

    A fetched block goes to the disk cache from a thread of its own, after the read has it:
    a new file costs ext4 a millisecond of system time (its inode allocator), as much as the
    rest of a small file's read, and the reader need not wait for it.
    """

    def __init__(
        self,
        store: BlockStore,
        cache: BlockCache,
        *,
        timeout: float,
        workers: int = 4,
        memory_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.store = store
        self.cache = cache
        self.timeout = timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, "flist-fetch")
        # reentrant: a future that is already done runs its callback (_settle) at once
        self._lock = threading.RLock()
        self._pending: dict[bytes, concurrent.futures.Future[memoryview]] = {}
        self._plain: OrderedDict[bytes, memoryview] = OrderedDict()
        self._plain_bytes = 0
        self._memory_bytes = memory_bytes
        self._writer = concurrent.futures.ThreadPoolExecutor(1, "flist-cache")
        self._unwritten: dict[bytes, bytes] = {}  # blocks queued for the cache, by id
        self._written = threading.Condition(self._lock)

    def read(self, ref: BlockRef) -> memoryview:
        """A block's plain bytes; StoreUnavailable when it cannot be had within the timeout."""
        future = self.fetch(ref)
        try:
            return future.result(self.timeout)
        except concurrent.futures.TimeoutError as exc:
            raise self.late(ref) from exc

    def late(self, ref: BlockRef) -> StoreUnavailable:
        """The error of a block not had within the timeout."""
        return StoreUnavailable(
            f"block {ref.id.hex()} not received from {self.store.url} within {self.timeout:g}s"
        )

    def peek(self, ref: BlockRef) -> memoryview | None:
        """A block's plain bytes if they are in memory now, else None (never waits)."""
        with self._lock:
            plain = self._plain.get(ref.id)
            if plain is not None:
                self._plain.move_to_end(ref.id)
            return plain

    def prefetch(self, refs: list[BlockRef]) -> None:
        """Start fetching blocks that a reader will probably ask for next."""
        for ref in refs:
            self.fetch(ref)

    def flush(self, timeout: float) -> bool:
        """Wait until the blocks fetched so far are in the disk cache; False on timeout."""
        with self._written:
            return self._written.wait_for(lambda: not self._unwritten, timeout)

    def close(self) -> None:
        """Stop the fetch threads (fetches already waiting on a store are abandoned, and
        blocks not yet in the disk cache stay out of it)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._writer.shutdown(wait=False, cancel_futures=True)

    def fetch(self, ref: BlockRef) -> concurrent.futures.Future[memoryview]:
        """A block's plain bytes to come: done at once when in memory, else being fetched."""
        with self._lock:
            plain = self._plain.get(ref.id)
            if plain is not None:
                self._plain.move_to_end(ref.id)
                done: concurrent.futures.Future[memoryview] = concurrent.futures.Future()
                done.set_result(plain)
                return done
            future = self._pending.get(ref.id)
            if future is None:
                future = self._pool.submit(self._load, ref)
                self._pending[ref.id] = future
                future.add_done_callback(lambda _: self._settle(ref.id))
            return future

    def _settle(self, block_id: bytes) -> None:
        # a failed fetch is forgotten, so the next read of the block asks the store again
        with self._lock:
            self._pending.pop(block_id, None)

    def _load(self, ref: BlockRef) -> memoryview:
        cached = self.cache.get(ref.id)
        plain: memoryview | None = None
        if cached is not None:
            try:
                plain = unseal(ref, cached)
            except BlockError:
                log.warning("event=cache_block_corrupt block=%s", ref.id.hex())
                self.cache.discard(ref.id)
        if plain is None:
            with self._lock:  # fetched again before the writer got to it
                data = self._unwritten.get(ref.id)
            if data is None:
                data = self.store.get(ref.id)
                plain = unseal(ref, data)
                self._remember(ref.id, plain)
                self._keep(ref.id, data)
                return plain
            plain = unseal(ref, data)
        self._remember(ref.id, plain)
        return plain

    def _keep(self, block_id: bytes, data: bytes) -> None:
        """Have a verified block written to the disk cache, by the writer while it keeps up."""
        with self._lock:
            if block_id in self._unwritten:
                return
            queued = len(self._unwritten) < _WRITES_QUEUED
            if queued:
                self._unwritten[block_id] = data
        if not queued:
            self.cache.put(block_id, data)
            return
        try:
            self._writer.submit(self._write, block_id, data)
        except RuntimeError:  # closed: the mount is going away
            self._written_out(block_id)

    def _write(self, block_id: bytes, data: bytes) -> None:
        try:
            self.cache.put(block_id, data)
        finally:
            self._written_out(block_id)

    def _written_out(self, block_id: bytes) -> None:
        with self._written:
            self._unwritten.pop(block_id, None)
            self._written.notify_all()

    def _remember(self, block_id: bytes, plain: memoryview) -> None:
        with self._lock:
            if block_id in self._plain:
                return
            self._plain[block_id] = plain
            self._plain_bytes += plain.nbytes
            while self._plain_bytes > self._memory_bytes and len(self._plain) > 1:
                _, old = self._plain.popitem(last=False)
                self._plain_bytes -= old.nbytes
