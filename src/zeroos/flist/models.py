"""The rows of an flist: inodes, block references and routes."""

from __future__ import annotations

import stat
from dataclasses import dataclass

ROOT_INO = 1


@dataclass(frozen=True, slots=True)
class Inode:
    """One entry of the tree, as the ``inode`` table holds it (``mode`` has the type bits)."""

    ino: int
    parent: int
    name: str
    size: int
    uid: int
    gid: int
    mode: int
    rdev: int
    ctime: int
    mtime: int

    @property
    def kind(self) -> int:
        """The file type bits (``stat.S_IFMT(mode)``)."""
        return stat.S_IFMT(self.mode)

    @property
    def is_dir(self) -> bool:
        return self.kind == stat.S_IFDIR

    @property
    def is_file(self) -> bool:
        return self.kind == stat.S_IFREG

    @property
    def is_link(self) -> bool:
        return self.kind == stat.S_IFLNK


@dataclass(frozen=True, slots=True)
class BlockRef:
    """Where one block of a file is and how to open it: its store id and its AES key."""

    id: bytes
    key: bytes


@dataclass(frozen=True, slots=True)
class Route:
    """Blocks whose id starts with a byte in ``start..end`` (inclusive) live at ``url``."""

    start: int
    end: int
    url: str

    def matches(self, first_byte: int) -> bool:
        return self.start <= first_byte <= self.end
