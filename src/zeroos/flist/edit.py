"""Editing an flist in place: tags, and entries put, removed, made or re-moded by path.

Each call is one sqlite transaction: it lands whole or not at all. New content is stored on
the flist's own routes (or given stores) before the edit commits.
"""

from __future__ import annotations

import stat
import time
from pathlib import Path

from .create import CreateReport, fill, local_entry, scan_dir
from .errors import FlistError
from .format import Flist
from .stores import Router, flist_routes
from .tree import Entry, TreeBuilder, split_path
from .upload import Progress, Uploader


def set_tag(path: str | Path, key: str, value: str) -> None:
    with Flist.open(path, writable=True) as fl:
        fl.set_tag(key, value)


def remove_tag(path: str | Path, key: str) -> None:
    with Flist.open(path, writable=True) as fl:
        if not fl.delete_tag(key):
            raise FlistError(f"{path}: no tag {key!r}")


def _prefixed(entries: list[Entry], dest: str) -> list[Entry]:
    base = "/".join(split_path(dest))
    for entry in entries:
        entry.path = f"{base}/{entry.path}" if entry.path else base
        if entry.link is not None:
            entry.link = f"{base}/{entry.link}"
    return entries


def put(
    path: str | Path,
    src: str | Path,
    dest: str,
    *,
    store_urls: list[str] | None = None,
    timeout: float = 10.0,
    progress: Progress | None = None,
) -> CreateReport:
    """Copy a local file or directory into the flist at ``dest`` (replacing what is there)."""
    src = Path(src)
    if not split_path(dest):
        raise FlistError("put needs a destination path inside the flist, not /")
    if not src.exists() and not src.is_symlink():
        raise FlistError(f"{src}: no such file or directory")
    report = CreateReport(Path(path))
    with Flist.open(path, writable=True) as fl:
        routes = flist_routes(fl, store_urls)
        store = Router(routes, timeout=timeout)
        uploader = Uploader(fl, store, block_size=fl.block_size, progress=progress)
        builder = TreeBuilder(fl)
        try:
            if src.is_dir() and not src.is_symlink():
                entries = list(scan_dir(src))
            else:
                entries = [local_entry(src, "")]
            fill(builder, uploader, iter(_prefixed(entries, dest)), report)
            report.upload = uploader.finish()
            builder.finish()
        except BaseException:
            uploader.abort()
            raise
        finally:
            store.close()
    return report


def remove(path: str | Path, target: str, *, recursive: bool = False) -> int:
    """Remove an entry (a non-empty directory only with ``recursive``); inodes removed."""
    with Flist.open(path, writable=True) as fl:
        builder = TreeBuilder(fl)
        node = builder.lookup(target)
        if node is None:
            raise FlistError(f"{target}: no such file or directory in the flist")
        if node.is_dir and fl.children(node.ino) and not recursive:
            raise FlistError(f"{target}: directory not empty (use --recursive)")
        return builder.remove(target)


def mkdir(path: str | Path, target: str, *, mode: int = 0o755, parents: bool = False) -> None:
    """Make a directory (and its missing parents with ``parents``)."""
    parts = split_path(target)
    if not parts:
        raise FlistError("/ already exists")
    with Flist.open(path, writable=True) as fl:
        builder = TreeBuilder(fl)
        if builder.lookup(target) is not None:
            raise FlistError(f"{target}: already exists in the flist")
        parent = "/".join(parts[:-1])
        if not parents and parent and builder.lookup(parent) is None:
            raise FlistError(f"{target}: parent directory missing (use --parents)")
        if parent and (found := builder.lookup(parent)) is not None and not found.is_dir:
            raise FlistError(f"{target}: /{parent} is not a directory")
        now = int(time.time())
        builder.add(Entry(target, stat.S_IFDIR | (mode & 0o7777), mtime=now, ctime=now))


def chmod(path: str | Path, target: str, mode: int) -> None:
    """Change an entry's permission bits (its type stays)."""
    with Flist.open(path, writable=True) as fl:
        node = TreeBuilder(fl).lookup(target)
        if node is None:
            raise FlistError(f"{target}: no such file or directory in the flist")
        # hard links are one file: they share the mode
        for ino in fl.link_group(node.ino):
            fl.update_inode(ino, mode=node.kind | (mode & 0o7777), ctime=int(time.time()))
