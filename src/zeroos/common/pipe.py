"""A file object that reads, in one thread, the chunks another thread puts into a bounded queue."""

from __future__ import annotations

import contextlib
import queue
import threading

_PUT_WAIT = 0.5  # seconds between looks at whether the reader closed, while the queue is full


class QueueReader:
    """Bytes handed from a writer to one reading thread, a bounded few chunks at a time.

    The writer :meth:`put`\\ s chunks, then :meth:`end`\\ s (the reader sees the end of the
    data) or :meth:`fail`\\ s (the reader's next read raises the exception it was given, as it
    is: a writer that wants the reader to see its own error wraps it before). The reader reads
    like a file that cannot seek and calls :meth:`close` when it stops reading: from then on
    the writer never waits, and what it puts is dropped.
    """

    def __init__(self, depth: int, *, read_all_chunk: int = 1 << 20) -> None:
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
        self._buffer = memoryview(b"")
        self._ended = False
        self._read_all_chunk = read_all_chunk  # the pieces ``read(-1)`` gathers in
        self.stopped = threading.Event()  # set by close(): the reader reads no more

    # -- the writer's side -------------------------------------------------------------------
    def put(self, chunk: bytes) -> None:
        """Queue ``chunk``, waiting while the queue is full (dropped once the reader closed)."""
        if chunk:
            self._put(chunk)

    def put_nowait(self, chunk: bytes) -> bool:
        """Queue ``chunk`` if there is room now; False when the writer would have to wait."""
        if not chunk or self.stopped.is_set():
            return True
        try:
            self._queue.put_nowait(chunk)
        except queue.Full:
            return False
        return True

    def end(self) -> None:
        """The data is complete: the reader sees the end of the stream."""
        self._put(None)

    def fail(self, exc: BaseException) -> None:
        """The data will not be complete: the reader's next read raises ``exc``."""
        self._put(exc)

    def _put(self, item: bytes | BaseException | None) -> None:
        while not self.stopped.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=_PUT_WAIT)
                return

    # -- the reader's side -------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return self.stopped.is_set()

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative); b"" at the end."""
        if size == 0:
            return b""
        if size < 0:
            parts = []
            while chunk := self.read(self._read_all_chunk):
                parts.append(chunk)
            return b"".join(parts)
        while not self._buffer:
            if self._ended:
                return b""
            item = self._queue.get()
            if item is None:
                self._ended = True
            elif isinstance(item, BaseException):
                self._ended = True
                raise item
            else:
                self._buffer = memoryview(item)
        taken, self._buffer = self._buffer[:size], self._buffer[size:]
        return bytes(taken)

    def close(self) -> None:
        """The reader stops: whatever is queued or put from now on is dropped."""
        self.stopped.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
