"""Writing an flist's tree out to a local directory, every byte, mode, owner, link and time.

Nothing is written outside ``dest``: every entry is made relative to its parent directory's
file descriptor, never following a symlink (O_NOFOLLOW, O_EXCL), so a hostile flist (names
with ``/`` or ``..``, a symlink and a directory of the same name) cannot reach elsewhere.
Device nodes are made only when asked and running as root; owners are set only as root.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import blocks
from .errors import FlistError
from .format import Flist
from .models import ROOT_INO, Inode
from .stores import BlockStore, Router, flist_routes
from .tree import check_name

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class ExtractReport:
    """What extract wrote, and what it left out (with why)."""

    entries: int = 0
    files: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)


def _open_dir(root_fd: int, parts: list[str]) -> int:
    fd = os.dup(root_fd)
    try:
        for part in parts:
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except OSError:
        os.close(fd)
        raise
    return fd


_HOLE = 64 * 1024  # zero runs of this size inside a block are left as holes too


class _Writer:
    def __init__(self, flist: Flist, store: BlockStore, owners: bool) -> None:
        self.flist = flist
        self.store = store
        self.owners = owners
        self.zero = bytes(_HOLE)

    def write(self, fd: int, node: Inode) -> int:
        """Fill an open file from its blocks, then set its owner, mode and times; bytes written.

        Zero runs are skipped (the final ftruncate gives the size), so sparse files stay sparse.
        """
        try:
            offset = 0
            for ref in self.flist.blocks(node.ino):
                plain = memoryview(blocks.decode(ref, self.store.get(ref.id)))
                for start in range(0, len(plain), _HOLE):
                    piece = plain[start : start + _HOLE]
                    at = offset + start
                    while piece != self.zero[: len(piece)]:
                        n = os.pwrite(fd, piece, at)
                        piece, at = piece[n:], at + n
                offset += len(plain)
            if offset != node.size:
                raise FlistError(
                    f"inode {node.ino} ({node.name!r}): blocks hold {offset} bytes, "
                    f"the flist says {node.size}"
                )
            os.ftruncate(fd, node.size)
            if self.owners:
                os.fchown(fd, node.uid, node.gid)
            os.fchmod(fd, stat.S_IMODE(node.mode))
            ns = node.mtime * 1_000_000_000
            os.utime(fd, ns=(ns, ns))
            return offset
        finally:
            os.close(fd)


def extract(
    flist_path: str | Path,
    dest: str | Path,
    *,
    store_urls: list[str] | None = None,
    workers: int = 8,
    devices: bool = False,
    owners: bool | None = None,
    max_bytes: int | None = None,
    timeout: float = 10.0,
    progress: Callable[[int], None] | None = None,
) -> ExtractReport:
    """Write the flist's tree into ``dest`` (made if missing; existing entries are not replaced).

    ``devices``: make device nodes (root only); ``owners``: set uid/gid (default: when root).
    ``max_bytes``: refuse an flist whose files add up to more.
    """
    dest = Path(dest)
    root_user = os.geteuid() == 0
    owners = root_user if owners is None else owners
    report = ExtractReport()
    with Flist.open(flist_path) as flist:
        if max_bytes is not None:
            total = sum(node.size for _, node in flist.walk() if node.is_file)
            if total > max_bytes:
                raise FlistError(
                    f"the flist holds {total} bytes, more than the {max_bytes} allowed"
                )
        dest.mkdir(parents=True, exist_ok=True)
        root_fd = os.open(dest, _DIR_FLAGS)
        store = Router(flist_routes(flist, store_urls), timeout=timeout)
        writer = _Writer(flist, store, owners)
        pool = ThreadPoolExecutor(workers, thread_name_prefix="flist-extract")
        pending: list[tuple[Future[int], str]] = []
        dirs: list[tuple[list[str], Inode]] = []
        links: list[tuple[list[str], Inode, int]] = []
        paths: dict[int, list[str]] = {}
        try:

            def drain(limit: int) -> None:
                while len(pending) > limit:
                    fut, _ = pending.pop(0)
                    n = fut.result()
                    report.bytes += n
                    if progress is not None:
                        progress(n)

            for path, node in flist.walk():
                if node.ino != ROOT_INO:
                    check_name(node.name, path)  # before the name becomes a path part
                parts = [p for p in path.split("/") if p]
                paths[node.ino] = parts
                report.entries += 1
                if not parts:
                    dirs.append((parts, node))
                    continue
                first = flist.hardlink_of(node.ino) if node.is_file else None
                if first is not None and first != node.ino:
                    links.append((parts, node, first))
                    continue
                parent_fd = _open_dir(root_fd, parts[:-1])
                try:
                    name = parts[-1]
                    kind = node.kind
                    if kind == stat.S_IFDIR:
                        os.mkdir(name, 0o700, dir_fd=parent_fd)
                        dirs.append((parts, node))
                        continue
                    if kind == stat.S_IFREG:
                        fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent_fd)
                        pending.append((pool.submit(writer.write, fd, node), path))
                        report.files += 1
                        drain(4 * workers)
                        continue  # the writer sets its attributes once written
                    elif kind == stat.S_IFLNK:
                        target = flist.link_target(node.ino)
                        os.symlink(target, name, dir_fd=parent_fd)
                    elif kind == stat.S_IFIFO:
                        os.mkfifo(name, 0o600, dir_fd=parent_fd)
                    elif kind in (stat.S_IFCHR, stat.S_IFBLK):
                        if not (devices and root_user):
                            report.skipped.append(f"{path}: device node (needs --devices as root)")
                            continue
                        os.mknod(name, kind | 0o600, node.rdev, dir_fd=parent_fd)
                    else:
                        report.skipped.append(f"{path}: socket or unknown type {kind:o}")
                        continue
                    _finish(parent_fd, name, node, owners)
                except FileExistsError as exc:
                    raise FlistError(
                        f"{dest / path.lstrip('/')}: already exists; not replaced"
                    ) from exc
                finally:
                    os.close(parent_fd)
            drain(0)
            for parts, _node, first in links:
                src = paths.get(first)
                if src is None:
                    raise FlistError(f"/{'/'.join(parts)}: hard link to a missing inode {first}")
                src_fd = _open_dir(root_fd, src[:-1])
                dst_fd = _open_dir(root_fd, parts[:-1])
                try:
                    os.link(
                        src[-1],
                        parts[-1],
                        src_dir_fd=src_fd,
                        dst_dir_fd=dst_fd,
                        follow_symlinks=False,
                    )
                finally:
                    os.close(src_fd)
                    os.close(dst_fd)
            # directories last and deepest first: making their entries changed their times
            for parts, node in reversed(dirs):
                if not parts:
                    _finish(root_fd, ".", node, owners)
                    continue
                parent_fd = _open_dir(root_fd, parts[:-1])
                try:
                    _finish(parent_fd, parts[-1], node, owners)
                finally:
                    os.close(parent_fd)
        except BaseException:
            for fut, _ in pending:
                fut.cancel()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            store.close()
            os.close(root_fd)
    return report


def _finish(dir_fd: int, name: str, node: Inode, owners: bool) -> None:
    """Owner, mode and times of one made entry (owner first: chown clears set-id bits)."""
    if owners:
        os.chown(name, node.uid, node.gid, dir_fd=dir_fd, follow_symlinks=False)
    if not node.is_link:
        os.chmod(name, stat.S_IMODE(node.mode), dir_fd=dir_fd)
    ns = node.mtime * 1_000_000_000
    os.utime(name, ns=(ns, ns), dir_fd=dir_fd, follow_symlinks=False)
