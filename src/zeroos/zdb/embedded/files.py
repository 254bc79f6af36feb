"""Append-only files with a write buffer that readers can see before it is flushed."""

from __future__ import annotations

import os
from collections import OrderedDict

from ..errors import StorageError


class AppendFile:
    """One data or index file being appended to.

    Appends collect in memory and reach the kernel on :meth:`flush`, once per batch of commands,
    so a pipeline of writes costs one system call. Reads see buffered bytes too.
    """

    __slots__ = ("_fd", "_flushed", "_pending", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot open {path}: {exc.strerror}") from exc
        self._flushed = os.fstat(self._fd).st_size
        self._pending = bytearray()

    @property
    def size(self) -> int:
        return self._flushed + len(self._pending)

    @property
    def buffered(self) -> int:
        return len(self._pending)

    def append(self, data: bytes) -> int:
        """Queue data at the end of the file; return the offset it will have."""
        offset = self._flushed + len(self._pending)
        self._pending += data
        return offset

    def flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        view = memoryview(pending)
        done = 0
        try:
            while done < len(view):
                done += os.pwrite(self._fd, view[done:], self._flushed + done)
        except OSError as exc:
            raise StorageError(f"cannot write {self.path}: {exc.strerror}") from exc
        finally:
            view.release()
            del pending[:done]
            self._flushed += done

    def sync(self) -> None:
        self.flush()
        os.fsync(self._fd)

    def read(self, offset: int, length: int) -> bytes:
        flushed = self._flushed
        if offset >= flushed:
            start = offset - flushed
            return bytes(self._pending[start : start + length])
        data = os.pread(self._fd, length, offset)
        if offset + length > flushed and len(data) == flushed - offset:
            data += self._pending[: offset + length - flushed]
        return data

    def truncate(self, size: int) -> None:
        self.flush()
        os.ftruncate(self._fd, size)
        self._flushed = size

    def close(self) -> None:
        try:
            self.flush()
        finally:
            os.close(self._fd)


class ReadOnlyFiles:
    """Sealed files opened on demand, at most ``limit`` at a time."""

    def __init__(self, limit: int = 128) -> None:
        self._limit = limit
        self._fds: OrderedDict[str, int] = OrderedDict()

    def read(self, path: str, offset: int, length: int) -> bytes:
        fd = self._fds.get(path)
        if fd is None:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise StorageError(f"cannot open {path}: {exc.strerror}") from exc
            self._fds[path] = fd
            if len(self._fds) > self._limit:
                _, old = self._fds.popitem(last=False)
                os.close(old)
        else:
            self._fds.move_to_end(path)
        return os.pread(fd, length, offset)

    def forget(self, path: str) -> None:
        fd = self._fds.pop(path, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
