"""The asyncio face of zero-stor: :class:`AsyncStor`, the same operations as :class:`Stor`, awaited.

The block work (hashing, compression, encryption, erasure coding) is CPU-bound and already runs
on :class:`Stor`'s thread pool, in parallel over the servers; this class runs each call in a
worker thread so the event loop never blocks, and streams downloads as an async iterator of
blocks.
"""

from __future__ import annotations

import asyncio
import io
import queue
import threading
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from .client import CheckResult, Progress, RepairResult, Stor
from .config import StorConfig, load_config
from .metadata import FileMeta

_END = object()


class _QueueReader:
    """A blocking ``read`` over chunks an event loop hands in (for put from an async source)."""

    def __init__(self) -> None:
        self.queue: queue.Queue[bytes | object] = queue.Queue(maxsize=8)
        self._buf = b""
        self._eof = False

    def read(self, n: int = -1, /) -> bytes:
        while not self._eof and (n < 0 or len(self._buf) < n):
            item = self.queue.get()
            if isinstance(item, bytes):
                self._buf += item
            else:  # _END, the only other thing handed in
                self._eof = True
        if n < 0:
            n = len(self._buf)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


class AsyncStor:
    """An asyncio zero-stor client; wraps a thread-safe :class:`Stor`."""

    def __init__(self, config: StorConfig, *, stor: Stor | None = None) -> None:
        self.config = config
        self.stor = stor if stor is not None else Stor(config)

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        return cls(load_config(path))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.stor.close)

    async def put(
        self,
        key: str,
        data: bytes | BinaryIO | AsyncIterable[bytes],
        *,
        user: dict[str, str] | None = None,
        progress: Progress | None = None,
    ) -> FileMeta:
        """Store bytes, a binary file, or an async iterable of byte chunks under ``key``."""
        if isinstance(data, bytes | bytearray | memoryview):
            source: BinaryIO | _QueueReader = io.BytesIO(data)
        elif isinstance(data, AsyncIterable):
            reader = _QueueReader()
            task = asyncio.create_task(
                asyncio.to_thread(self.stor.put, key, reader, user=user, progress=progress)
            )
            try:
                async for chunk in data:
                    while True:
                        try:
                            reader.queue.put_nowait(bytes(chunk))
                            break
                        except queue.Full:
                            if task.done():
                                return await task
                            await asyncio.sleep(0.001)
            finally:
                await asyncio.to_thread(reader.queue.put, _END)
            return await task
        else:
            source = data
        return await asyncio.to_thread(self.stor.put, key, source, user=user, progress=progress)

    async def get(self, key: str, *, progress: Progress | None = None) -> AsyncIterator[bytes]:
        """The file's blocks, in order, as an async iterator."""
        reader = await asyncio.to_thread(self.stor.get, key, progress=progress)
        blocks = reader.iter_blocks()
        stop = threading.Event()

        def step() -> bytes | None:
            return None if stop.is_set() else next(blocks, None)

        async def iterate() -> AsyncIterator[bytes]:
            try:
                while (block := await asyncio.to_thread(step)) is not None:
                    yield block
            finally:
                stop.set()
                reader.close()

        return iterate()

    async def read(self, key: str) -> bytes:
        return await asyncio.to_thread(self.stor.read, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.stor.delete, key)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.stor.exists, key)

    async def metadata(self, key: str) -> FileMeta:
        return await asyncio.to_thread(self.stor.metadata, key)

    async def list(self) -> list[FileMeta]:
        return await asyncio.to_thread(self.stor.list)

    async def check(self, key: str, *, progress: Progress | None = None) -> CheckResult:
        return await asyncio.to_thread(self.stor.check, key, progress=progress)

    async def repair(self, key: str, *, progress: Progress | None = None) -> RepairResult:
        return await asyncio.to_thread(self.stor.repair, key, progress=progress)

    async def gc(self) -> int:
        return await asyncio.to_thread(self.stor.gc)


__all__ = ["AsyncStor"]
