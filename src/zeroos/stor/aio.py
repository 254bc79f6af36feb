"""The asyncio face of zero-stor: :class:`AsyncStor`, the same operations as :class:`Stor`, awaited.

The block work (hashing, compression, encryption, erasure coding) is CPU-bound and already runs
on :class:`Stor`'s thread pool, in parallel over the servers; this class runs each call in a
worker thread so the event loop never blocks, and streams downloads as an async iterator of
blocks.
"""

from __future__ import annotations

import asyncio
import functools
import io
import queue
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Concatenate, ParamSpec, Self, TypeVar

from .client import Progress, Stor
from .config import StorConfig, load_config
from .metadata import FileMeta

_END = object()
P = ParamSpec("P")
T = TypeVar("T")


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


def _threaded(
    method: Callable[Concatenate[Stor, P], T],
) -> Callable[Concatenate[AsyncStor, P], Coroutine[Any, Any, T]]:
    """``Stor``'s ``method`` as an :class:`AsyncStor` coroutine method run in a worker thread."""

    async def run(self: AsyncStor, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(method, self.stor, *args, **kwargs)

    functools.update_wrapper(run, method)
    run.__qualname__ = f"AsyncStor.{method.__name__}"
    return run


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

    aclose = _threaded(Stor.close)

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

    # the rest is Stor's, in a worker thread: signatures and docstrings written once, there
    read = _threaded(Stor.read)
    delete = _threaded(Stor.delete)
    exists = _threaded(Stor.exists)
    metadata = _threaded(Stor.metadata)
    list = _threaded(Stor.list)
    check = _threaded(Stor.check)
    repair = _threaded(Stor.repair)
    gc = _threaded(Stor.gc)


__all__ = ["AsyncStor"]
