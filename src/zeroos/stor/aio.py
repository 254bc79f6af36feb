"""The asyncio face of zero-stor: :class:`AsyncStor`, the same operations as :class:`Stor`, awaited.

The block work (hashing, compression, encryption, erasure coding) is CPU-bound and already runs
on :class:`Stor`'s thread pool, in parallel over the servers; this class runs each call in a
worker thread so the event loop never blocks, and streams downloads as an async iterator of
blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Concatenate, ParamSpec, Self, TypeVar

from ..common.pipe import QueueReader
from .client import Progress, Stor
from .config import StorConfig, load_config
from .metadata import FileMeta

_PIPE_DEPTH = 8  # chunks of an async source queued for the put at most
P = ParamSpec("P")
T = TypeVar("T")


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
        if isinstance(data, AsyncIterable):
            return await self._put_streamed(key, data, user=user, progress=progress)
        source = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
        return await asyncio.to_thread(self.stor.put, key, source, user=user, progress=progress)

    async def _put_streamed(
        self,
        key: str,
        data: AsyncIterable[bytes],
        *,
        user: dict[str, str] | None,
        progress: Progress | None,
    ) -> FileMeta:
        """``Stor.put`` in a worker thread, reading the chunks the loop hands it as they come.

        A source that fails fails the put (nothing is stored), and a put that fails stops
        taking chunks (the loop never waits on it)."""
        pipe = QueueReader(_PIPE_DEPTH)

        def put() -> FileMeta:
            try:
                return self.stor.put(key, pipe, user=user, progress=progress)
            finally:
                pipe.close()

        task = asyncio.create_task(asyncio.to_thread(put))
        try:
            async for chunk in data:
                if pipe.closed:  # the put stopped before the end: it failed; its error below
                    break
                if not pipe.put_nowait(bytes(chunk)):  # the put is behind: wait off the loop
                    await asyncio.to_thread(pipe.put, bytes(chunk))
        except BaseException as exc:
            await asyncio.to_thread(pipe.fail, exc)
            with contextlib.suppress(BaseException):
                await task
            raise
        await asyncio.to_thread(pipe.end)
        return await task

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
