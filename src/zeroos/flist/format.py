"""The flist file: one sqlite database in rfs's schema, read and written here only.

Tables (rfs's ``schema/schema.sql``): ``inode`` (the tree), ``extra`` (symlink targets),
``block`` (a file's blocks in insertion order), ``tag`` (key/value) and ``route`` (id-prefix
ranges to store URLs). Our one addition is ``hardlink`` (ino -> the inode it is a hard link
of), which rfs ignores: to rfs such an entry is a plain copy sharing the same blocks.
See docs/flist.md.
"""

from __future__ import annotations

import sqlite3
import stat
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .errors import FlistError, FlistFormatError
from .models import ROOT_INO, BlockRef, Inode, Route

SCHEMA = """
CREATE TABLE IF NOT EXISTS inode (
    ino INTEGER PRIMARY KEY AUTOINCREMENT,
    parent INTEGER,
    name VARCHAR(255),
    size INTEGER,
    uid INTEGER,
    gid INTEGER,
    mode INTEGER,
    rdev INTEGER,
    ctime INTEGER,
    mtime INTEGER
);
CREATE INDEX IF NOT EXISTS parents ON inode (parent);
CREATE TABLE IF NOT EXISTS extra (
    ino INTEGER PRIMARY KEY,
    data VARCHAR(4096)
);
CREATE TABLE IF NOT EXISTS block (
    ino INTEGER,
    id VARCHAR(32),
    key VARCHAR(32)
);
CREATE INDEX IF NOT EXISTS block_ino ON block (ino);
CREATE TABLE IF NOT EXISTS tag (
    key VARCHAR(10) PRIMARY KEY,
    value VARCHAR(255)
);
CREATE TABLE IF NOT EXISTS route (
    start integer,
    end integer,
    url VARCHAR(2048)
);
"""
# ours, optional: a reader without it sees hard links as copies
HARDLINK_SCHEMA = """
CREATE TABLE IF NOT EXISTS hardlink (
    ino INTEGER PRIMARY KEY,
    target INTEGER
);
"""
_REQUIRED = {
    "inode": {"ino", "parent", "name", "size", "uid", "gid", "mode", "rdev", "ctime", "mtime"},
    "extra": {"ino", "data"},
    "block": {"ino", "id", "key"},
    "tag": {"key", "value"},
    "route": {"start", "end", "url"},
}
_INODE_COLUMNS = "ino, parent, name, size, uid, gid, mode, rdev, ctime, mtime"
DEFAULT_BLOCK_SIZE = 512 * 1024
BLOCK_SIZE_TAG = "block-size"


def _inode(row: tuple[Any, ...]) -> Inode:
    name = row[2]
    if isinstance(name, bytes):  # a writer that bound the name as a blob
        name = name.decode("utf-8", "surrogateescape")
    return Inode(
        int(row[0]),
        int(row[1] or 0),
        str(name or ""),
        int(row[3] or 0),
        int(row[4] or 0),
        int(row[5] or 0),
        int(row[6] or 0),
        int(row[7] or 0),
        int(row[8] or 0),
        int(row[9] or 0),
    )


def _blob(value: Any) -> bytes:
    """A BLOB or TEXT column as bytes (rfs writes blobs; older tools wrote text)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if value is None:
        return b""
    raise FlistFormatError(f"expected bytes or text in the flist, found {type(value).__name__}")


class Flist:
    """An open flist file: read views of the tree and, when writable, edits.

    Thread-safe: one sqlite connection guarded by a lock.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, writable: bool) -> None:
        self._conn = conn
        self.path = path
        self.writable = writable
        self._lock = threading.RLock()
        self._has_hardlinks = False

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, *, writable: bool = False) -> Self:
        """Open an existing flist; FlistFormatError when it is not one (corrupt, truncated)."""
        path = Path(path)
        if not path.is_file():
            raise FlistError(f"{path}: no such flist file")
        uri = f"file:{path.resolve().as_posix()}?mode={'rw' if writable else 'ro'}"
        try:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise FlistFormatError(f"{path}: cannot open the flist: {exc}") from exc
        flist = cls(conn, path, writable)
        try:
            flist._validate()
        except BaseException:
            conn.close()
            raise
        if writable:
            flist._begin()
        return flist

    @classmethod
    def create(cls, path: str | Path, *, block_size: int = DEFAULT_BLOCK_SIZE) -> Self:
        """A new, empty flist (replacing any file at ``path``) holding only the root dir.

        Written without fsync: build it under a temporary name and rename it when complete.
        """
        path = Path(path)
        path.unlink(missing_ok=True)
        try:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            # a new flist is built under a temporary name and renamed into place when
            # complete: a crash loses nothing worth an fsync
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("PRAGMA journal_mode=MEMORY")
            conn.executescript(SCHEMA + HARDLINK_SCHEMA)
        except sqlite3.Error as exc:
            raise FlistError(f"{path}: cannot create the flist: {exc}") from exc
        flist = cls(conn, path, True)
        flist._has_hardlinks = True
        flist._begin()
        flist._exec(
            f"INSERT INTO inode ({_INODE_COLUMNS}) VALUES (?, 0, '/', 0, 0, 0, ?, 0, 0, 0)",  # noqa: S608
            (ROOT_INO, stat.S_IFDIR | 0o755),
        )
        flist.set_tag("version", "v1")
        flist.set_tag(BLOCK_SIZE_TAG, str(block_size))
        return flist

    def _validate(self) -> None:
        try:
            tables = {
                r[0]
                for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            for table, columns in _REQUIRED.items():
                if table not in tables:
                    raise FlistFormatError(f"{self.path}: not an flist (no {table!r} table)")
                have = {r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")}
                if not columns <= have:
                    missing = ", ".join(sorted(columns - have))
                    raise FlistFormatError(f"{self.path}: table {table!r} lacks {missing}")
            check = self._conn.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise FlistFormatError(f"{self.path}: the flist database is damaged")
            self._has_hardlinks = "hardlink" in tables
        except sqlite3.DatabaseError as exc:
            raise FlistFormatError(f"{self.path}: not a readable flist: {exc}") from exc
        if self._get_inode(ROOT_INO) is None:
            raise FlistFormatError(f"{self.path}: the flist has no root directory (inode 1)")

    def _begin(self) -> None:
        self._exec("BEGIN")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.writable and exc_type is not None:
            self.rollback()
        self.close()

    def close(self) -> None:
        """Commit the edits (when writable) and close the file."""
        with self._lock:
            if self.writable and self._conn.in_transaction:
                self._exec("COMMIT")
            self._conn.close()

    def rollback(self) -> None:
        """Forget the edits made since opening (or the last commit)."""
        with self._lock:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._begin()

    def commit(self) -> None:
        with self._lock:
            self._exec("COMMIT")
            self._begin()

    # -- plumbing -------------------------------------------------------------------------
    def _exec(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(args))
            except sqlite3.DatabaseError as exc:
                raise FlistFormatError(f"{self.path}: {exc}") from exc

    def _all(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(args)).fetchall()
            except sqlite3.DatabaseError as exc:
                raise FlistFormatError(f"{self.path}: {exc}") from exc

    def _need_writable(self) -> None:
        if not self.writable:
            raise FlistError(f"{self.path}: opened read-only")

    def _get_inode(self, ino: int) -> Inode | None:
        sql = f"SELECT {_INODE_COLUMNS} FROM inode WHERE ino = ?"  # noqa: S608 - constant columns
        rows = self._all(sql, (ino,))
        return _inode(rows[0]) if rows else None

    # -- reading --------------------------------------------------------------------------
    def root(self) -> Inode:
        return self.inode(ROOT_INO)

    def inode(self, ino: int) -> Inode:
        found = self._get_inode(ino)
        if found is None:
            raise FlistError(f"{self.path}: no inode {ino}")
        return found

    def lookup(self, parent_ino: int, name: str) -> Inode | None:
        rows = self._all(
            f"SELECT {_INODE_COLUMNS} FROM inode WHERE parent = ? AND name = ? ORDER BY ino",  # noqa: S608
            (parent_ino, name),
        )
        return _inode(rows[-1]) if rows else None

    def children(self, ino: int) -> list[Inode]:
        rows = self._all(
            f"SELECT {_INODE_COLUMNS} FROM inode WHERE parent = ? AND ino != ? ORDER BY ino",  # noqa: S608
            (ino, ROOT_INO),
        )
        return [_inode(r) for r in rows]

    def link_target(self, ino: int) -> bytes:
        rows = self._all("SELECT data FROM extra WHERE ino = ?", (ino,))
        return _blob(rows[0][0]) if rows else b""

    def blocks(self, ino: int) -> list[BlockRef]:
        rows = self._all("SELECT id, key FROM block WHERE ino = ? ORDER BY rowid", (ino,))
        return [self._ref(ino, block_id, key) for block_id, key in rows]

    def blocks_of(self, inos: Sequence[int]) -> dict[int, list[BlockRef]]:
        """The blocks of several files, by inode, in one query (files without any left out)."""
        marks = ",".join("?" * len(inos))
        sql = f"SELECT ino, id, key FROM block WHERE ino IN ({marks}) ORDER BY ino, rowid"  # noqa: S608
        found: dict[int, list[BlockRef]] = {}
        for ino, block_id, key in self._all(sql, inos):
            found.setdefault(int(ino), []).append(self._ref(int(ino), block_id, key))
        return found

    def _ref(self, ino: int, block_id: Any, key: Any) -> BlockRef:
        bid, bkey = _blob(block_id), _blob(key)
        if len(bid) != 32 or len(bkey) != 32:
            raise FlistFormatError(f"{self.path}: inode {ino} has a block of a bad length")
        return BlockRef(bid, bkey)

    def all_blocks(self) -> Iterator[tuple[int, BlockRef]]:
        """Every (ino, block) row of the flist, file by file in order."""
        for ino, block_id, key in self._all("SELECT ino, id, key FROM block ORDER BY ino, rowid"):
            yield int(ino), BlockRef(_blob(block_id), _blob(key))

    def hardlink_of(self, ino: int) -> int | None:
        """The inode this one is a hard link of (our ``hardlink`` table), or None."""
        if not self._has_hardlinks:
            return None
        rows = self._all("SELECT target FROM hardlink WHERE ino = ?", (ino,))
        return int(rows[0][0]) if rows else None

    def link_counts(self) -> dict[int, int]:
        """How many names each hard-linked inode has (inodes with one name are left out)."""
        if not self._has_hardlinks:
            return {}
        rows = self._all("SELECT target, count(*) FROM hardlink GROUP BY target")
        return {int(target): int(count) + 1 for target, count in rows}

    def link_group(self, ino: int) -> list[int]:
        """Every inode sharing content with ``ino`` as hard links (itself included)."""
        first = self.hardlink_of(ino) or ino
        if not self._has_hardlinks:
            return [ino]
        rows = self._all("SELECT ino FROM hardlink WHERE target = ?", (first,))
        return sorted({first, ino, *(int(r[0]) for r in rows)})

    def tags(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._all("SELECT key, value FROM tag ORDER BY key")}

    def tag(self, name: str) -> str | None:
        rows = self._all("SELECT value FROM tag WHERE key = ?", (name,))
        return str(rows[0][0]) if rows else None

    def routes(self) -> list[Route]:
        rows = self._all("SELECT start, end, url FROM route ORDER BY rowid")
        return [Route(int(s), int(e), str(u)) for s, e, u in rows]

    @property
    def block_size(self) -> int:
        value = self.tag(BLOCK_SIZE_TAG)
        try:
            return int(value) if value else DEFAULT_BLOCK_SIZE
        except ValueError as exc:
            raise FlistFormatError(f"{self.path}: block-size tag {value!r} is no number") from exc

    def walk(self, top: int = ROOT_INO, prefix: str = "/") -> Iterator[tuple[str, Inode]]:
        """Every entry under ``top`` (itself first), depth first, as (path, inode)."""
        stack = [(prefix, self.inode(top))]
        seen = set()
        while stack:
            path, node = stack.pop()
            if node.ino in seen:  # a loop in a hostile flist: visit each inode once
                continue
            seen.add(node.ino)
            yield path, node
            if node.is_dir:
                base = path.rstrip("/")
                for child in reversed(self.children(node.ino)):
                    stack.append((f"{base}/{child.name}", child))

    def resolve(self, path: str) -> Inode:
        """The inode at an absolute path inside the flist (symlinks are not followed)."""
        node = self.root()
        for part in [p for p in path.split("/") if p and p != "."]:
            if not node.is_dir:
                raise FlistError(f"{path}: {node.name} is not a directory")
            found = self.lookup(node.ino, part)
            if found is None:
                raise FlistError(f"{path}: no such file or directory in the flist")
            node = found
        return node

    def count(self) -> int:
        return int(self._all("SELECT count(*) FROM inode")[0][0])

    # -- writing --------------------------------------------------------------------------
    def add_inode(
        self,
        parent: int,
        name: str,
        *,
        mode: int,
        size: int = 0,
        uid: int = 0,
        gid: int = 0,
        rdev: int = 0,
        ctime: int = 0,
        mtime: int = 0,
    ) -> int:
        """Insert one entry under ``parent``; its new inode number."""
        self._need_writable()
        cur = self._exec(
            "INSERT INTO inode (parent, name, size, uid, gid, mode, rdev, ctime, mtime)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (parent, name, size, uid, gid, mode, rdev, ctime, mtime),
        )
        ino = cur.lastrowid
        if ino is None:
            raise FlistError(f"{self.path}: sqlite gave no inode number")
        return ino

    def update_inode(self, ino: int, **fields: int | str) -> None:
        """Change columns of one inode (names as in the ``inode`` table)."""
        self._need_writable()
        allowed = {"parent", "name", "size", "uid", "gid", "mode", "rdev", "ctime", "mtime"}
        if not fields.keys() <= allowed:
            raise FlistError(f"not inode columns: {sorted(fields.keys() - allowed)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        sql = f"UPDATE inode SET {sets} WHERE ino = ?"  # noqa: S608 - checked column names
        self._exec(sql, (*fields.values(), ino))

    def set_link_target(self, ino: int, target: bytes) -> None:
        self._need_writable()
        self._exec("INSERT OR REPLACE INTO extra (ino, data) VALUES (?, ?)", (ino, target))

    def add_blocks(self, ino: int, refs: Iterable[BlockRef]) -> None:
        self._need_writable()
        with self._lock:
            try:
                self._conn.executemany(
                    "INSERT INTO block (ino, id, key) VALUES (?, ?, ?)",
                    [(ino, r.id, r.key) for r in refs],
                )
            except sqlite3.DatabaseError as exc:
                raise FlistFormatError(f"{self.path}: {exc}") from exc

    def set_blocks(self, ino: int, refs: Iterable[BlockRef]) -> None:
        """Replace a file's blocks."""
        self._exec("DELETE FROM block WHERE ino = ?", (ino,))
        self.add_blocks(ino, refs)

    def set_hardlink(self, ino: int, target: int) -> None:
        self._need_writable()
        if not self._has_hardlinks:
            self._exec(HARDLINK_SCHEMA)
            self._has_hardlinks = True
        self._exec("INSERT OR REPLACE INTO hardlink (ino, target) VALUES (?, ?)", (ino, target))

    def remove(self, ino: int) -> int:
        """Delete an entry and everything under it; how many inodes went."""
        self._need_writable()
        if ino == ROOT_INO:
            raise FlistError("the root directory cannot be removed")
        doomed = [node.ino for _, node in self.walk(ino)]
        # hardlink rows naming a removed inode as their target go too: their links keep the
        # blocks they were given (tree.py moves the content first) and stop being links
        columns = [("inode", "ino"), ("extra", "ino"), ("block", "ino")]
        if self._has_hardlinks:
            columns += [("hardlink", "ino"), ("hardlink", "target")]
        for i in range(0, len(doomed), 500):
            chunk = doomed[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for table, column in columns:
                sql = f"DELETE FROM {table} WHERE {column} IN ({marks})"  # noqa: S608 - constants
                self._exec(sql, chunk)
        return len(doomed)

    def set_tag(self, key: str, value: str) -> None:
        self._need_writable()
        self._exec("INSERT OR REPLACE INTO tag (key, value) VALUES (?, ?)", (key, value))

    def delete_tag(self, key: str) -> bool:
        self._need_writable()
        return self._exec("DELETE FROM tag WHERE key = ?", (key,)).rowcount > 0

    def set_routes(self, routes: Iterable[Route]) -> None:
        """Replace the routing table."""
        self._need_writable()
        self._exec("DELETE FROM route")
        for r in routes:
            self._exec(
                "INSERT INTO route (start, end, url) VALUES (?, ?, ?)", (r.start, r.end, r.url)
            )

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the lock for a run of edits from one thread."""
        with self._lock:
            yield
