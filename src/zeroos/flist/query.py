"""Reading an flist without writing anything: listing, finding, stat, content, totals, diffs."""

from __future__ import annotations

import fnmatch
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from . import blocks
from .errors import FlistError
from .format import Flist
from .models import Inode, Route
from .stores import BlockStore

_KINDS = {
    "f": stat.S_IFREG,
    "d": stat.S_IFDIR,
    "l": stat.S_IFLNK,
    "p": stat.S_IFIFO,
    "c": stat.S_IFCHR,
    "b": stat.S_IFBLK,
    "s": stat.S_IFSOCK,
}


def ls(flist: Flist, path: str = "/") -> list[tuple[str, Inode]]:
    """A directory's entries as (name, inode), or the entry itself when not a directory."""
    node = flist.resolve(path)
    if not node.is_dir:
        return [(node.name, node)]
    return sorted(((c.name, c) for c in flist.children(node.ino)), key=lambda p: p[0])


def find(
    flist: Flist, path: str = "/", *, name: str | None = None, kind: str | None = None
) -> Iterator[tuple[str, Inode]]:
    """Entries under ``path`` (itself included) whose name matches a glob and type letter."""
    if kind is not None and kind not in _KINDS:
        raise FlistError(f"unknown type {kind!r}: use one of {''.join(_KINDS)}")
    top = flist.resolve(path)
    prefix = "/" + "/".join(p for p in path.split("/") if p and p != ".")
    for where, node in flist.walk(top.ino, prefix):
        if name is not None and not fnmatch.fnmatchcase(node.name, name):
            continue
        if kind is not None and node.kind != _KINDS[kind]:
            continue
        yield where, node


def cat(flist: Flist, store: BlockStore, path: str, out: IO[bytes]) -> int:
    """Write a regular file's content to ``out`` block by block; bytes written."""
    node = flist.resolve(path)
    if not node.is_file:
        raise FlistError(f"{path}: not a regular file")
    written = 0
    for ref in flist.blocks(node.ino):
        plain = blocks.decode(ref, store.get(ref.id))
        out.write(plain)
        written += len(plain)
    return written


def block_sizes(flist: Flist, node: Inode) -> list[int]:
    """The plain size of each of a file's blocks (every block full but the last)."""
    size = flist.block_size
    count = len(flist.blocks(node.ino))
    return [min(size, node.size - i * size) for i in range(count)]


@dataclass
class Info:
    """Totals of an flist: entries by kind, bytes referenced and unique, and its stores."""

    files: int = 0
    dirs: int = 0
    links: int = 0
    other: int = 0
    total_bytes: int = 0
    blocks: int = 0
    unique_blocks: int = 0
    unique_bytes: int = 0
    routes: list[Route] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


def info(flist: Flist) -> Info:
    """Count an flist's entries and bytes; unique bytes count each distinct block once."""
    result = Info(routes=flist.routes(), tags=flist.tags())
    size = flist.block_size
    unique: dict[bytes, int] = {}
    sizes = {node.ino: node.size for _, node in flist.walk() if node.is_file}
    for _, node in flist.walk():
        if node.is_file:
            result.files += 1
            result.total_bytes += node.size
        elif node.is_dir:
            result.dirs += 1
        elif node.is_link:
            result.links += 1
        else:
            result.other += 1
    index: dict[int, int] = {}
    for ino, ref in flist.all_blocks():
        if ino not in sizes:
            continue  # an orphan row of a removed file
        i = index.get(ino, 0)
        index[ino] = i + 1
        result.blocks += 1
        unique.setdefault(ref.id, max(0, min(size, sizes[ino] - i * size)))
    result.unique_blocks = len(unique)
    result.unique_bytes = sum(unique.values())
    return result


@dataclass(frozen=True)
class Change:
    """One difference between two flists: ``+`` added, ``-`` removed, ``M`` changed (what)."""

    op: str
    path: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        extra = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{self.op} {self.path}{extra}"


def _entries(flist: Flist) -> dict[str, Inode]:
    return dict(flist.walk())


def diff(a: Flist, b: Flist) -> list[Change]:
    """What changed from ``a`` to ``b``, path by path (content compared by block ids)."""
    old, new = _entries(a), _entries(b)
    changes = []
    for path in sorted(old.keys() | new.keys()):
        x, y = old.get(path), new.get(path)
        if x is None:
            changes.append(Change("+", path))
            continue
        if y is None:
            changes.append(Change("-", path))
            continue
        fields = [
            name
            for name in ("mode", "uid", "gid", "size", "rdev", "mtime")
            if getattr(x, name) != getattr(y, name)
        ]
        if x.is_link and y.is_link and a.link_target(x.ino) != b.link_target(y.ino):
            fields.append("target")
        if (
            x.is_file
            and y.is_file
            and [r.id for r in a.blocks(x.ino)] != [r.id for r in b.blocks(y.ino)]
        ):
            fields.append("content")
        if fields:
            changes.append(Change("M", path, tuple(fields)))
    return changes
