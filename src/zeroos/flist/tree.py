"""Path-level edits of a writable flist: add, replace and remove entries by path.

Shared by create (from a directory or an archive), merge, import-image and the in-place
editing commands. Names are checked here once: a name that is empty, ``.``/``..``, holds
``/``, NUL or a newline, or is not valid UTF-8, is refused with one line naming the path.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

from .errors import FlistError
from .format import Flist
from .models import ROOT_INO, BlockRef, Inode

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


def check_name(name: str, where: str) -> None:
    """Refuse a name no flist entry may have (FlistError naming ``where``)."""
    if name in ("", ".", ".."):
        raise FlistError(f"{where!r}: invalid entry name {name!r}")
    if "/" in name or "\0" in name:
        raise FlistError(f"{where!r}: entry name holds '/' or NUL")
    if "\n" in name or "\r" in name:
        raise FlistError(f"{where!r}: entry name holds a newline; refused")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FlistError(f"{where!r}: entry name is not valid UTF-8; refused") from exc


def split_path(path: str) -> list[str]:
    """The parts of a path inside the tree; refuses ``..`` and bad names."""
    parts = [p for p in path.split("/") if p and p != "."]
    for part in parts:
        check_name(part, path)
    return parts


@dataclass
class Entry:
    """One entry to put in a tree: its attributes and where its content comes from."""

    path: str
    mode: int
    uid: int = 0
    gid: int = 0
    size: int = 0
    rdev: int = 0
    mtime: int = 0
    ctime: int = 0
    target: bytes = b""  # symlink target
    link: str | None = None  # hard link: the path of an earlier regular file
    open: Callable[[], IO[bytes]] | None = None  # regular file content, read in order
    blocks: list[BlockRef] | None = None  # content already stored (merge, edits)

    @classmethod
    def of(cls, path: str, node: Inode) -> Entry:
        """An entry with an existing inode's attributes (content and target not included)."""
        return cls(
            path,
            node.mode,
            uid=node.uid,
            gid=node.gid,
            size=node.size,
            rdev=node.rdev,
            mtime=node.mtime,
            ctime=node.ctime,
        )


class TreeBuilder:
    """Applies entries by path to a writable flist, keeping a path -> inode cache."""

    def __init__(self, flist: Flist, *, complete: bool = False) -> None:
        """``complete``: the flist is new and only this builder edits it, so the path cache
        knows every entry and a path missing from it needs no database lookup."""
        self.flist = flist
        self._complete = complete
        self._cache: dict[str, int] = {"": ROOT_INO}
        self._layer: set[int] = set()
        self._hardlinks: list[tuple[int, int]] = []  # (link, first name) awaiting content
        # called before content is copied between inodes: waits for queued uploads
        self.settle: Callable[[], None] | None = None

    def start_layer(self) -> None:
        """Begin a new layer: an opaque whiteout hides only what earlier layers added."""
        self._layer = set()

    def _ino(self, parts: list[str]) -> int | None:
        key = "/".join(parts)
        found = self._cache.get(key)
        if found is not None:
            return found
        if not parts:
            return ROOT_INO
        if self._complete:
            return None
        parent = self._ino(parts[:-1])
        if parent is None:
            return None
        node = self.flist.lookup(parent, parts[-1])
        if node is None:
            return None
        self._cache[key] = node.ino
        return node.ino

    def lookup(self, path: str) -> Inode | None:
        ino = self._ino(split_path(path))
        return None if ino is None else self.flist.inode(ino)

    def _forget(self, key: str) -> None:
        prefix = key + "/"
        for k in [k for k in self._cache if k == key or k.startswith(prefix)]:
            del self._cache[k]

    def _ensure_dir(self, parts: list[str], mtime: int) -> int:
        """The directory at ``parts``, made (0755, root's) when missing."""
        ino = self._ino(parts)
        if ino is not None:
            node = self.flist.inode(ino)
            if node.is_dir:
                return ino
            self.remove("/".join(parts))
        parent = self._ensure_dir(parts[:-1], mtime) if parts else ROOT_INO
        if not parts:
            return ROOT_INO
        ino = self.flist.add_inode(
            parent, parts[-1], mode=stat.S_IFDIR | 0o755, mtime=mtime, ctime=mtime
        )
        self._cache["/".join(parts)] = ino
        self._layer.add(ino)
        return ino

    def remove(self, path: str) -> int:
        """Delete the entry at ``path`` and what is under it; how many inodes went."""
        parts = split_path(path)
        ino = self._ino(parts)
        if ino is None:
            return 0
        self._forget("/".join(parts))
        return self._drop(ino)

    def _drop(self, ino: int) -> int:
        """Remove an inode and its subtree, keeping the content of its hard links elsewhere."""
        if self._hardlinks:
            doomed = {node.ino for _, node in self.flist.walk(ino)}
            if any(first in doomed for _, first in self._hardlinks):
                self._rehome(doomed)
            self._hardlinks = [(i, f) for i, f in self._hardlinks if i not in doomed]
        return self.flist.remove(ino)

    def _rehome(self, doomed: set[int]) -> None:
        """The first name of some hard links is going: its content moves to them now."""
        if self.settle is not None:
            self.settle()  # the first name's blocks may still be on their way to the store
        groups: dict[int, list[int]] = {}
        for link, first in self._hardlinks:
            if first in doomed and link not in doomed:
                groups.setdefault(first, []).append(link)
        for first, links in groups.items():
            node = self.flist.inode(first)
            refs = self.flist.blocks(first)
            for link in links:
                self.flist.set_blocks(link, refs)
                self.flist.update_inode(link, size=node.size)
            # the first surviving link becomes the group's first name
            for link in links[1:]:
                self.flist.set_hardlink(link, links[0])
            self._hardlinks = [
                (i, links[0] if f == first else f) for i, f in self._hardlinks if i != links[0]
            ]

    def clear_dir(self, path: str, *, lower_only: bool = True) -> None:
        """Remove a directory's children (those of earlier layers only, by default)."""
        ino = self._ino(split_path(path))
        if ino is None:
            return
        base = "/".join(split_path(path))
        for child in self.flist.children(ino):
            if lower_only and child.ino in self._layer:
                continue
            self._forget(f"{base}/{child.name}" if base else child.name)
            self._drop(child.ino)

    def whiteout(self, path: str) -> bool:
        """Apply an OCI whiteout entry; True when ``path`` was one (and nothing is added)."""
        parts = split_path(path)
        if not parts or not parts[-1].startswith(WHITEOUT):
            return False
        parent = "/".join(parts[:-1])
        if parts[-1] == OPAQUE:
            self.clear_dir(parent)
        else:
            hidden = parts[-1][len(WHITEOUT) :]
            self.remove(f"{parent}/{hidden}" if parent else hidden)
        return True

    def add(self, entry: Entry) -> int:
        """Put an entry at its path (replacing what was there); its inode number."""
        parts = split_path(entry.path)
        if not parts:  # the root itself: only its attributes change
            self.flist.update_inode(
                ROOT_INO,
                uid=entry.uid,
                gid=entry.gid,
                mode=stat.S_IFDIR | stat.S_IMODE(entry.mode),
                mtime=entry.mtime,
                ctime=entry.ctime,
            )
            return ROOT_INO
        kind = stat.S_IFMT(entry.mode)
        existing = self._ino(parts)
        if existing is not None:
            node = self.flist.inode(existing)
            if node.is_dir and kind == stat.S_IFDIR:
                self.flist.update_inode(
                    existing,
                    uid=entry.uid,
                    gid=entry.gid,
                    mode=entry.mode,
                    mtime=entry.mtime,
                    ctime=entry.ctime,
                )
                self._layer.add(existing)
                return existing
            self.remove(entry.path)
        parent = self._ensure_dir(parts[:-1], entry.mtime)
        size = entry.size
        if kind == stat.S_IFLNK:
            size = len(entry.target)
        elif kind != stat.S_IFREG:
            size = 0
        ino = self.flist.add_inode(
            parent,
            parts[-1],
            mode=entry.mode,
            size=size,
            uid=entry.uid,
            gid=entry.gid,
            rdev=entry.rdev,
            mtime=entry.mtime,
            ctime=entry.ctime,
        )
        self._cache["/".join(parts)] = ino
        self._layer.add(ino)
        if kind == stat.S_IFLNK:
            self.flist.set_link_target(ino, entry.target)
        if entry.blocks:
            self.flist.add_blocks(ino, entry.blocks)
        return ino

    def add_hardlink(self, entry: Entry) -> int:
        """A hard link to an earlier regular file: a new inode sharing its content."""
        if entry.link is None:
            raise FlistError(f"{entry.path!r}: not a hard link")
        target_ino = self._ino(split_path(entry.link))
        if target_ino is None:
            raise FlistError(f"{entry.path!r}: hard link to {entry.link!r}, which is not there")
        target = self.flist.inode(target_ino)
        if not target.is_file:
            raise FlistError(f"{entry.path!r}: hard link to {entry.link!r}, not a regular file")
        first = self.flist.hardlink_of(target_ino) or target_ino
        ino = self.add(Entry.of(entry.path, target))
        self.flist.set_hardlink(ino, first)
        self._hardlinks.append((ino, first))
        return ino

    def finish(self) -> None:
        """Give every hard link its first name's blocks and size (known only once stored)."""
        for ino, first in self._hardlinks:
            try:
                node = self.flist.inode(first)
            except FlistError:
                continue  # the first name was removed by a later layer: keep what we have
            self.flist.set_blocks(ino, self.flist.blocks(first))
            self.flist.update_inode(ino, size=node.size)
        self._hardlinks.clear()

    def add_all(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            if entry.link is not None:
                self.add_hardlink(entry)
            else:
                self.add(entry)
