"""Local append-only files, written and read through a shared memory map.

The embedded engine keeps its data and index in them, and the chain its leaves, hashes and
heads (so the chain needs nothing of the engine's package).

An append is a copy into the mapping: it lands in the kernel's page cache with no system
call, so it survives the process being killed the moment it returns, and a pipeline of
writes costs nothing per command. Space is reserved ahead with ``posix_fallocate`` (a full
disk is an error at that point, never a SIGBUS later); the file is cut back to its logical
size when it is closed. After a crash the reserved tail reads as zeros, which never pass an
entry's checksum, so recovery cuts it like any torn tail.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections import OrderedDict

from .errors import StorageError

GROW_STEP = 16 * 1024 * 1024
_PAGE = mmap.PAGESIZE


class AppendFile:
    """One data or index file being appended to."""

    __slots__ = ("_cap", "_fd", "_map", "_size", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot open {path}: {exc.strerror}") from exc
        self._size = os.fstat(self._fd).st_size
        self._cap = self._size
        self._map: mmap.mmap | None = None
        if self._cap:
            self._map = mmap.mmap(self._fd, self._cap)

    @property
    def size(self) -> int:
        return self._size

    def _grow(self, need: int) -> None:
        least = (self._size + need + _PAGE - 1) // _PAGE * _PAGE
        cap = max(least, (self._cap + GROW_STEP + _PAGE - 1) // _PAGE * _PAGE)
        try:
            os.posix_fallocate(self._fd, self._cap, cap - self._cap)
        except OSError as exc:
            if exc.errno != errno.ENOSPC or cap == least:
                raise StorageError(f"cannot grow {self.path}: {exc.strerror}") from exc
            # a nearly full disk: reserve only what this append needs, while there is room
            try:
                os.posix_fallocate(self._fd, self._cap, least - self._cap)
            except OSError as exc2:
                raise StorageError(f"cannot grow {self.path}: {exc2.strerror}") from exc2
            cap = least
        if self._map is None:
            self._map = mmap.mmap(self._fd, cap)
        else:
            self._map.resize(cap)
        self._cap = cap

    def append(self, data: bytes) -> int:
        """Write data at the end of the file; return its offset."""
        offset = self._size
        end = offset + len(data)
        if end > self._cap:
            self._grow(len(data))
        self._map[offset:end] = data  # type: ignore[index]
        self._size = end
        return offset

    def flush(self) -> None:
        """Nothing to do: appends are in the page cache already (kept for the interface)."""

    def sync(self) -> None:
        """Make every append durable (survives a power cut)."""
        try:
            if self._map is not None:
                self._map.flush()
            os.fsync(self._fd)
        except OSError as exc:
            raise StorageError(f"cannot sync {self.path}: {exc.strerror}") from exc

    def read(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self._size)
        if self._map is None or offset >= end:
            return b""
        return self._map[offset:end]

    def truncate(self, size: int) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        os.ftruncate(self._fd, size)
        self._size = self._cap = size
        if size:
            self._map = mmap.mmap(self._fd, size)

    def close(self) -> None:
        try:
            if self._map is not None:
                self._map.close()
                self._map = None
            if self._cap != self._size:
                os.ftruncate(self._fd, self._size)  # give back the space reserved ahead
        finally:
            os.close(self._fd)


class ReadOnlyFiles:
    """Sealed files, memory-mapped on demand, at most ``limit`` at a time."""

    def __init__(self, limit: int = 128) -> None:
        self._limit = limit
        self._maps: OrderedDict[str, mmap.mmap | None] = OrderedDict()

    def read(self, path: str, offset: int, length: int) -> bytes:
        if path in self._maps:
            self._maps.move_to_end(path)
            m = self._maps[path]
        else:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise StorageError(f"cannot open {path}: {exc.strerror}") from exc
            try:
                size = os.fstat(fd).st_size
                m = mmap.mmap(fd, size, prot=mmap.PROT_READ) if size else None
            finally:
                os.close(fd)
            self._maps[path] = m
            if len(self._maps) > self._limit:
                _, old = self._maps.popitem(last=False)
                if old is not None:
                    old.close()
        if m is None:
            return b""
        return m[offset : offset + length]

    def forget(self, path: str) -> None:
        m = self._maps.pop(path, None)
        if m is not None:
            m.close()

    def close(self) -> None:
        for m in self._maps.values():
            if m is not None:
                m.close()
        self._maps.clear()
