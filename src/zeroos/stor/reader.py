"""Reading files back: blocks fetched in batches (one MGET of records, one MGET per server),
decoded on the pool, and streamed through :class:`StorReader`."""

from __future__ import annotations

import contextlib
import io
import itertools
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from .errors import DataLost, DecryptionError, StorError
from .layout import Layout, failed, obj_key, shard_digest
from .metadata import ChunkRef, FileMeta, ObjectMeta

Progress = Callable[[int], None]
"""Called with a number of bytes each time that many more are done."""

_Reads = dict[str, Future[dict[tuple[bytes, int], bytes]]]


class Fetcher:
    """Fetches blocks: CPU work on ``pool``, the network reads it waits for on ``io``."""

    def __init__(
        self, layout: Layout, pool: ThreadPoolExecutor, io_pool: ThreadPoolExecutor
    ) -> None:
        self.layout = layout
        self.pool = pool
        self.io = io_pool

    def fetch_blocks(self, refs: list[ChunkRef]) -> list[Future[bytes]]:
        """Start fetching blocks: their records in one MGET, then the shards each server holds
        for them in one MGET per server, all servers at once; each block decodes on the pool."""
        objs = list(dict.fromkeys(ref.obj_key for ref in refs))
        try:
            records = self.layout.meta.mget([obj_key(obj) for obj in objs])
        except StorError as exc:
            return [failed(exc) for _ in refs]
        metas: dict[bytes, ObjectMeta | StorError] = {}
        wanted: dict[str, list[tuple[bytes, int]]] = {}
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
            for index in self.layout.shard_order(om)[:need]:
                wanted.setdefault(om.shards[index].location, []).append((obj, index))
        reads = {loc: self.io.submit(self._read_many, loc, items) for loc, items in wanted.items()}
        started: dict[tuple[bytes, int], Future[bytes]] = {}
        out: list[Future[bytes]] = []
        for ref in refs:
            fut = started.get((ref.obj_key, ref.size))
            if fut is None:
                om_or_error = metas[ref.obj_key]
                if isinstance(om_or_error, StorError):
                    fut = failed(om_or_error)
                else:
                    fut = self.pool.submit(self._fetch_object, om_or_error, ref.size, reads)
                started[(ref.obj_key, ref.size)] = fut
            out.append(fut)
        return out

    def _read_many(
        self, location: str, items: list[tuple[bytes, int]]
    ) -> dict[tuple[bytes, int], bytes]:
        """The shards (object key, index) that one server returns; missing ones left out."""
        backend = self.layout.by_location.get(location)
        if backend is None:
            return {}
        try:
            values = backend.mget([self.layout.shard_key(obj, index) for obj, index in items])
        except StorError:
            return {}  # the careful path of each block reads elsewhere
        return {item: v for item, v in zip(items, values, strict=True) if v is not None}

    def _fetch_object(self, om: ObjectMeta, size: int, reads: _Reads) -> bytes:
        layout = self.layout
        need = 1 if om.replication else om.data_shards
        got: dict[int, bytes] = {}
        for index in layout.shard_order(om)[:need]:
            fut = reads.get(om.shards[index].location)
            value = None if fut is None else fut.result().get((om.obj_key, index))
            if value is not None:
                got[index] = value
        if len(got) == need:
            # no shard hash on this path: any flipped byte fails the AEAD tag or the block id
            # check of decode, which is one pass over the plaintext instead of one per shard
            with contextlib.suppress(DecryptionError, DataLost):
                return layout.decode(om, got, size)
        # the careful path: keep the shards whose hash matches, read others until enough
        good = {i: v for i, v in got.items() if shard_digest(v) == om.shards[i].digest}
        for index in layout.shard_order(om):
            if len(good) >= need:
                break
            if index not in good:
                value = layout.read_shard(om, index)
                if value is not None:
                    good[index] = value
        return layout.decode(om, good, size)


class StorReader(io.RawIOBase):
    """A downloaded file as a readable binary stream; blocks are fetched ahead in parallel."""

    def __init__(
        self, fetcher: Fetcher, meta: FileMeta, batch: int, progress: Progress | None = None
    ) -> None:
        super().__init__()
        self.meta = meta
        self._fetcher = fetcher
        self._refs = fetcher.layout.chunk_refs(meta)
        self._window: deque[Future[bytes]] = deque()
        self._buf = memoryview(b"")
        self._progress = progress
        self._batch = max(1, batch)
        self._fill()

    def _fill(self) -> None:
        # a batch costs one MGET of records and one MGET per server: keep one more batch in
        # flight than the one being consumed, so the network never waits for the reader
        while len(self._window) <= self._batch:
            refs = list(itertools.islice(self._refs, self._batch))
            if not refs:
                return
            self._window.extend(self._fetcher.fetch_blocks(refs))

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


__all__ = ["Fetcher", "Progress", "StorReader"]
