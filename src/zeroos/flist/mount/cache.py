"""The block cache every flist mount of a machine shares: a directory of blocks by id."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

# After an eviction the cache holds at most this share of its bound, so that the next few
# blocks do not each trigger a scan of the directory.
_LOW_WATER = 0.9
_STATE = ".size"  # the bytes held, as text; updated under an exclusive flock on the file


class BlockCache:
    """Verified blocks as files named by their id, bounded in bytes, least recently used evicted.

    Blocks are kept as stored (the ciphertext), so a cached file is checked against its id on
    every use exactly like a block from the store. Several mounts, in several processes, may use
    the same directory: a block is written to a temporary file and renamed into place (readers
    see a whole block or none), a read touches the file's mtime (the LRU clock), and the bytes
    held are counted in ``.size`` under a lock, so every process sees the others' blocks; past
    the bound, the oldest files are deleted (under the same lock) until 90% of it is left.
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
        # every block's folder at once: a cold read does not pay a mkdir for each new one
        for prefix in range(256):
            (root / f"{prefix:02x}").mkdir(exist_ok=True)
        self._root = str(root)
        # flock excludes other processes; threads of this one share the descriptor: a Lock
        self._fd = os.open(root / _STATE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._lock = threading.Lock()
        with self._state() as state:
            state.write(self._scan_size())  # the truth, whatever a crashed writer left

    def _path(self, block_id: bytes) -> str:
        # plain strings and os calls: pathlib's objects cost more than the syscalls here
        name = block_id.hex()
        return f"{self._root}/{name[:2]}/{name}"

    @contextlib.contextmanager
    def _state(self) -> Iterator[_Counter]:
        with self._lock:
            if self._fd < 0:
                raise _Closed
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield _Counter(self._fd)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Let go of the size file (blocks stay for the next mount).

        A fetch still running (an unmount does not wait for them) then keeps its block out of
        the cache: its descriptor number may already name another file.
        """
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def get(self, block_id: bytes) -> bytes | None:
        """The cached bytes of a block, or None when it is not cached."""
        try:
            fd = os.open(self._path(block_id), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            with open(fd, "rb", buffering=0, closefd=False) as f:
                data = f.readall()
            # through the descriptor: a block evicted meanwhile by another mount is still read
            os.utime(fd)
        finally:
            os.close(fd)
        return data

    def put(self, block_id: bytes, data: bytes) -> None:
        """Keep a block (already verified against its id); evict old blocks past the bound."""
        if len(data) > self.max_bytes * (1 - _LOW_WATER):
            return  # a block this large would evict most of the cache for one use
        path = self._path(block_id)
        folder, _, name = path.rpartition("/")
        tmp = f"{folder}/.{name}.{os.getpid()}.{threading.get_ident()}"
        try:
            # room is made before the block is written: a block being written counts too
            with self._state() as state:
                # a block two mounts both wrote is counted twice: too high, corrected by a scan
                total = state.read() + len(data)
                if total > self.max_bytes:
                    total = self._evict(len(data))
                state.write(total)
            self._write(tmp, data)
            os.rename(tmp, path)
        except _Closed:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        except OSError as exc:
            # a full or read-only cache disk costs speed, never a read
            log.warning("event=cache_write_failed path=%s error=%r", path, exc)
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _write(self, tmp: str, data: bytes) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        try:
            fd = os.open(tmp, flags, 0o644)
        except FileNotFoundError:  # its folder was removed under the cache: made again
            os.makedirs(os.path.dirname(tmp), exist_ok=True)
            fd = os.open(tmp, flags, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def discard(self, block_id: bytes) -> None:
        """Forget a cached block (its bytes did not match its id)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(block_id))

    def size(self) -> int:
        """Bytes held by the cache now, counted on disk."""
        return self._scan_size()

    def _evict(self, coming: int) -> int:
        """Delete least recently used blocks until those left and `coming` more bytes are
        within the low-water mark; the bytes that will be held then."""
        entries = self._entries()
        total = sum(size for _, size, _ in entries) + coming
        target = int(self.max_bytes * _LOW_WATER)
        entries.sort(key=lambda entry: entry[2])
        for path, size, _ in entries:
            if total <= target:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            total -= size
        return total

    def _entries(self) -> list[tuple[Path, int, int]]:
        """(path, size, mtime in ns) of every cached block."""
        found: list[tuple[Path, int, int]] = []
        for sub in os.scandir(self.root):
            if not sub.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(sub.path):
                if entry.name.startswith("."):
                    continue  # a block being written
                with contextlib.suppress(FileNotFoundError):
                    st = entry.stat(follow_symlinks=False)
                    found.append((Path(entry.path), st.st_size, st.st_mtime_ns))
        return found

    def _scan_size(self) -> int:
        return sum(size for _, size, _ in self._entries())


class _Closed(Exception):
    """The cache was closed while a block was being put into it."""


class _Counter:
    """The number in the locked ``.size`` file, written in place at a fixed width.

    (Truncating and rewriting a file makes ext4 flush it: milliseconds a block.)
    """

    _WIDTH = 20

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def read(self) -> int:
        text = os.pread(self._fd, self._WIDTH, 0).strip()
        return int(text) if text.isdigit() else 0

    def write(self, value: int) -> None:
        os.pwrite(self._fd, str(value).rjust(self._WIDTH).encode(), 0)
