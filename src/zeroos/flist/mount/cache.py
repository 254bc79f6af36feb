"""The block cache every flist mount of a machine shares: blocks packed in a few segment files."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

_SEGMENTS = 8  # the bound is split in this many segments; eviction drops one, the oldest
_LOCK = ".lock"  # flock'ed exclusively around an append, a new segment and an eviction
_INDEX = "index.db"  # block id -> (segment, offset, length); sqlite in WAL mode
_SEGMENT = re.compile(r"seg-(\d{12})")
_OLD_LAYOUT = re.compile(r"[0-9a-f]{2}|\.size")  # the one-file-per-block cache this replaced
# A WAL past this many pages is folded into the database and cut back: the index stays small
# next to the bound it counts against.
_WAL_PAGES = 32
_WAL_BYTES = (_WAL_PAGES + 8) * 4096
_SHM_BYTES = 32768  # sqlite's shared-memory file
_Row = tuple[bytes, int, int, int]  # an index entry: block id, segment, offset, length


class BlockCache:
    """Verified blocks appended to a few segment files, bounded in bytes, oldest segment evicted.

    Blocks are kept as stored (the ciphertext), so a cached block is checked against its id on
    every use exactly like a block from the store: whatever a torn append or a crash left, wrong
    bytes are never served. A new block is appended to the newest segment (one write, no new
    file: creating a file per block cost more than the rest of a small file's read), then
    recorded in a sqlite index shared by every process using the folder (WAL: lookups never
    wait for a writer). Appends, new segments and evictions happen under an exclusive flock.
    The bound counts segments and index alike; past it the oldest segment goes, whole. A block
    read from the oldest quarter of the segments is appended again to the newest, so blocks in
    use outlive the ones that are not (LRU, a segment at a time).
    """

    def __init__(self, root: Path, max_bytes: int, *, refresh: bool = True) -> None:
        """Open (or make) the cache in `root`; `refresh=False` only looks (no block moves)."""
        self.root = root
        self._refresh = refresh
        self.max_bytes = max_bytes
        self._segment_bytes = max(max_bytes // _SEGMENTS, 1)
        root.mkdir(parents=True, exist_ok=True)
        self._root = str(root)
        # flock excludes other processes; threads of this one share the descriptor, the
        # index connection and the segment descriptors: one Lock over all of them
        self._lock = threading.Lock()
        self._lock_fd = os.open(root / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._fds: dict[int, int] = {}  # open segments by number
        self._known: list[int] = []  # the segments on disk when last listed, oldest first
        self._closed = False
        try:
            with self._exclusive():
                self._drop_old_layout()
                self._db = sqlite3.connect(
                    root / _INDEX, timeout=30, isolation_level=None, check_same_thread=False
                )
                self._setup_index()
                self._known = self._list()
        except (OSError, sqlite3.Error) as exc:
            os.close(self._lock_fd)
            if isinstance(exc, sqlite3.Error):
                raise OSError(0, f"its index: {exc}") from exc
            raise

    def _setup_index(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        # a crash of the machine may lose the last commits or leave an entry whose bytes were
        # lost: both cost a fetch from the store (every block is checked), never wrong bytes
        db.execute("PRAGMA synchronous=OFF")
        db.execute(f"PRAGMA wal_autocheckpoint={_WAL_PAGES}")
        db.execute(f"PRAGMA journal_size_limit={_WAL_PAGES * 4096}")
        db.execute(
            "CREATE TABLE IF NOT EXISTS block (id BLOB PRIMARY KEY, seg INTEGER NOT NULL,"
            " off INTEGER NOT NULL, len INTEGER NOT NULL) WITHOUT ROWID"
        )
        db.execute("CREATE INDEX IF NOT EXISTS block_seg ON block (seg)")

    def _drop_old_layout(self) -> None:
        for entry in os.scandir(self._root):
            if _OLD_LAYOUT.fullmatch(entry.name):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)

    def _seg_path(self, seg: int) -> str:
        return f"{self._root}/seg-{seg:012d}"

    def _list(self) -> list[int]:
        """The segments on disk, oldest first."""
        found = (_SEGMENT.fullmatch(name) for name in os.listdir(self._root))
        return sorted(int(m.group(1)) for m in found if m)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Let go of the index and the segments (blocks stay for the next mount).

        A fetch still running (an unmount does not wait for them) then keeps its block out.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()
            self._db.close()
            os.close(self._lock_fd)

    def get(self, block_id: bytes) -> bytes | None:
        """The cached bytes of a block, or None when it is not cached."""
        return self.get_many([block_id]).get(block_id)

    def get_many(self, block_ids: Sequence[bytes]) -> dict[bytes, bytes]:
        """The cached bytes of those of several blocks that are cached, by id: one index
        lookup for all (a prefetch asks for a directory's files at once)."""
        found: dict[bytes, bytes] = {}
        with self._lock:
            if self._closed or not block_ids:
                return found
            try:
                rows = self._db.execute(
                    f"SELECT id, seg, off, len FROM block WHERE id IN ({_marks(len(block_ids))})",  # noqa: S608
                    tuple(block_ids),
                ).fetchall()
                for block_id, seg, off, length in rows:
                    data = self._read(block_id, seg, off, length)
                    if data is not None:
                        found[block_id] = data
                        self._refresh_if_fading(block_id, seg, data)
            except (OSError, sqlite3.Error) as exc:
                log.warning("event=cache_read_failed blocks=%d error=%r", len(block_ids), exc)
        return found

    def _refresh_if_fading(self, block_id: bytes, seg: int, data: bytes) -> None:
        """Append a block in use again to the newest segment when its own is evicted soon."""
        if not self._refresh or not self._fading(seg):
            return
        try:
            with self._exclusive():
                self._append([(block_id, data)])
        except (OSError, sqlite3.Error) as exc:
            log.warning("event=cache_write_failed root=%s error=%r", self._root, exc)

    def _read(self, block_id: bytes, seg: int, off: int, length: int) -> bytes | None:
        fd = self._segment(seg)
        data = os.pread(fd, length, off) if fd >= 0 else b""
        if len(data) != length:  # its segment is gone or was cut short
            # this entry only: another mount may have appended the block again meanwhile
            self._db.execute(
                "DELETE FROM block WHERE id = ? AND seg = ? AND off = ?", (block_id, seg, off)
            )
            return None
        return data

    def _segment(self, seg: int) -> int:
        """An open descriptor of segment `seg`, or -1 when it is gone."""
        fd = self._fds.get(seg)
        if fd is not None:
            return fd
        try:
            fd = os.open(self._seg_path(seg), os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return -1
        # segments evicted by another process: their space comes free once we close them
        self._known = self._list()
        for old in [n for n in self._fds if n not in self._known]:
            os.close(self._fds.pop(old))
        self._fds[seg] = fd
        return fd

    def _fading(self, seg: int) -> bool:
        known = self._known
        return len(known) >= 2 and seg < known[max(len(known) // 4, 1)] and seg != known[-1]

    def put(self, block_id: bytes, data: bytes) -> None:
        """Keep a block (already verified against its id); evict old segments past the bound."""
        self.put_many([(block_id, data)])

    def put_many(self, blocks: Sequence[tuple[bytes, bytes]]) -> None:
        """Keep several blocks (verified): one lock and one index transaction for all."""
        limit = min(self.max_bytes // 10, self._segment_bytes)
        # a block this large would evict much of the cache for one use
        kept = [(i, d) for i, d in blocks if len(d) <= limit]
        with self._lock:
            if self._closed or not kept:
                return
            try:
                with self._exclusive():
                    self._db.execute("BEGIN IMMEDIATE")
                    try:
                        self._append(kept)
                    finally:
                        self._db.execute("COMMIT")
            except (OSError, sqlite3.Error) as exc:
                # a full or read-only cache disk costs speed, never a read
                log.warning("event=cache_write_failed root=%s error=%r", self._root, exc)

    def _append(self, blocks: Sequence[tuple[bytes, bytes]]) -> None:
        """Append blocks to the newest segment, in one write while they fit, and enter them;
        the caller holds the flock."""
        newest = self._newest()
        fresh = dict(blocks)
        sql = f"SELECT id FROM block WHERE seg = ? AND id IN ({_marks(len(fresh))})"  # noqa: S608
        for (block_id,) in self._db.execute(sql, (newest, *fresh)).fetchall():
            del fresh[block_id]  # another mount had it meanwhile
        if not fresh:
            return
        fd = self._segment(newest) if newest >= 0 else -1
        end = os.fstat(fd).st_size if fd >= 0 else self._segment_bytes
        start = end
        parts: list[bytes] = []
        rows: list[_Row] = []
        for block_id, data in fresh.items():
            if end + len(data) > self._segment_bytes:
                self._write(fd, parts, start, rows)
                newest = self._roll(newest)
                fd, start, end, parts, rows = self._fds[newest], 0, 0, [], []
            parts.append(data)
            rows.append((block_id, newest, end, len(data)))
            end += len(data)
        self._write(fd, parts, start, rows)

    def _write(self, fd: int, parts: list[bytes], at: int, rows: list[_Row]) -> None:
        """Write blocks at an offset of a segment, then their index entries."""
        if not parts:
            return
        total = sum(len(p) for p in parts)
        # one system call, the blocks not joined first (a MiB block would be copied once more)
        written = os.pwritev(fd, parts, at)
        if written < total:  # a short write (a full disk, a signal): the rest, until done
            view = memoryview(b"".join(parts))[written:]
            while view:
                view = view[os.pwrite(fd, view, at + total - len(view)) :]
        # the entries only once their bytes are all in the segment (other processes see
        # them from the page cache at once): a crash before this leaves unused bytes
        self._db.executemany(
            "INSERT OR REPLACE INTO block (id, seg, off, len) VALUES (?, ?, ?, ?)", rows
        )

    def _newest(self) -> int:
        """The segment appends go to (-1: none yet), seeing those other processes began."""
        newest = self._known[-1] if self._known else -1
        if newest < 0 or os.path.exists(self._seg_path(newest + 1)):
            self._known = self._list()
            newest = self._known[-1] if self._known else -1
        return newest

    def _roll(self, newest: int) -> int:
        """Begin a new segment, evicting the oldest ones until it fits in the bound."""
        known = self._list()
        sizes = {seg: _size(self._seg_path(seg)) for seg in known}
        # room for a whole segment: appends to it check no bound until the next one
        held = sum(sizes.values()) + self._index_bytes(reserve=True)
        while known and held + self._segment_bytes > self.max_bytes:
            old = known.pop(0)
            # entries first: a crash between the two leaves a segment nobody reads, evicted next
            self._db.execute("DELETE FROM block WHERE seg = ?", (old,))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._seg_path(old))
            fd = self._fds.pop(old, None)
            if fd is not None:
                os.close(fd)
            held -= sizes[old]
        seg = max([newest, *known]) + 1
        fd = os.open(self._seg_path(seg), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._fds[seg] = fd
        self._known = [*known, seg]
        return seg

    def _index_bytes(self, *, reserve: bool = False) -> int:
        """The index's bytes on disk; with `reserve`, its log counted at the most it grows to."""
        db, wal, shm = (_size(f"{self._root}/{_INDEX}{end}") for end in ("", "-wal", "-shm"))
        if reserve:
            return db + max(wal, _WAL_BYTES) + max(shm, _SHM_BYTES)
        return db + wal + shm

    def discard(self, block_id: bytes) -> None:
        """Forget a cached block (its bytes did not match its id)."""
        with self._lock:
            if not self._closed:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("DELETE FROM block WHERE id = ?", (block_id,))

    def size(self) -> int:
        """Bytes held by the cache now (segments and index), counted on disk."""
        return sum(_size(self._seg_path(seg)) for seg in self._list()) + self._index_bytes()


def _marks(count: int) -> str:
    """SQL placeholders for `count` values of an IN list."""
    return ",".join("?" * count)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
