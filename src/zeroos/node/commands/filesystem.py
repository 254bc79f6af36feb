"""filesystem.*: files and folders of the node, and the open/read/write/close that
0-core-client's upload and download are built on (blocks travel base64-encoded).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import shutil
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..context import Context
from ..errors import CommandError
from .base import Args, Command

BLOCK = 512 * 1024  # what one filesystem.read returns at most (the client writes such blocks)
T = TypeVar("T")

# 0-core's open modes, one letter each, combined
_MODE_FLAGS = {
    "r": os.O_RDONLY,
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "+": os.O_RDWR,
    "x": os.O_CREAT,
    "a": os.O_WRONLY | os.O_APPEND | os.O_CREAT,
}


async def _fs(what: str, call: Callable[[], T]) -> T:
    """Run a blocking file call off the event loop; an OSError becomes one CommandError line."""
    try:
        return await asyncio.to_thread(call)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise CommandError(f"{what}{where}: {exc.strerror or exc}") from exc


class PathArgs(Args):
    path: str


class OpenArgs(Args):
    file: str
    mode: str = "r"
    perm: int = 0o644


def _flags(mode: str) -> int:
    if not mode or any(letter not in _MODE_FLAGS for letter in mode):
        raise CommandError(f"filesystem.open: mode {mode!r}: use letters of r, w, +, x, a")
    flags = 0
    for letter in mode:
        flags |= _MODE_FLAGS[letter]
    if flags & os.O_RDWR:
        flags &= ~os.O_WRONLY
    return flags


async def open_file(ctx: Context, args: OpenArgs) -> str:
    """Open a file; its descriptor (a name, not a number) for read, write and close."""
    flags = _flags(args.mode)
    fd = await _fs("filesystem.open", lambda: os.open(args.file, flags, args.perm))
    if flags & os.O_RDWR:
        mode = "r+b"
    elif flags & os.O_WRONLY:
        mode = "ab" if flags & os.O_APPEND else "wb"  # "wb" on a given fd truncates nothing
    else:
        mode = "rb"
    file = os.fdopen(fd, mode)
    name = str(uuid.uuid4())
    ctx.node.files[name] = file
    return name


class FdArgs(Args):
    fd: str


class WriteArgs(Args):
    fd: str
    block: str


def _file(ctx: Context, fd: str) -> Any:
    file = ctx.node.files.get(fd)
    if file is None:
        raise CommandError(f"no open file {fd!r}")
    return file


async def read(ctx: Context, args: FdArgs) -> str:
    """The next block of the file, base64 (empty at its end)."""
    file = _file(ctx, args.fd)
    data: bytes = await _fs("filesystem.read", lambda: file.read(BLOCK))
    return base64.b64encode(data).decode()


async def write(ctx: Context, args: WriteArgs) -> int:
    file = _file(ctx, args.fd)
    try:
        data = base64.b64decode(args.block, validate=False)
    except binascii.Error as exc:
        raise CommandError(f"filesystem.write: block is not base64: {exc}") from exc
    written: int = await _fs("filesystem.write", lambda: file.write(data))
    return written


async def close(ctx: Context, args: FdArgs) -> bool:
    file = _file(ctx, args.fd)
    del ctx.node.files[args.fd]
    await _fs("filesystem.close", file.close)
    return True


async def exists(ctx: Context, args: PathArgs) -> bool:
    return await _fs("filesystem.exists", lambda: os.path.lexists(args.path))


def _entry(entry: os.DirEntry[str]) -> dict[str, Any]:
    info = entry.stat(follow_symlinks=False)
    return {
        "name": entry.name,
        "size": info.st_size,
        "mode": info.st_mode,
        "is_dir": stat.S_ISDIR(info.st_mode),
    }


async def list_dir(ctx: Context, args: PathArgs) -> list[dict[str, Any]]:
    def scan() -> list[dict[str, Any]]:
        with os.scandir(args.path) as entries:
            return sorted((_entry(e) for e in entries), key=lambda e: str(e["name"]))

    return await _fs("filesystem.list", scan)


async def mkdir(ctx: Context, args: PathArgs) -> bool:
    await _fs("filesystem.mkdir", lambda: os.makedirs(args.path, exist_ok=True))
    return True


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


async def remove(ctx: Context, args: PathArgs) -> bool:
    """Remove a file or a folder with all it holds (rm -rf; an absent path is no error)."""
    if await exists(ctx, args):
        await _fs("filesystem.remove", lambda: _remove(args.path))
    return True


class MoveArgs(Args):
    path: str
    destination: str


async def move(ctx: Context, args: MoveArgs) -> bool:
    await _fs("filesystem.move", lambda: shutil.move(args.path, args.destination))
    return True


class ChmodArgs(Args):
    path: str
    mode: int
    recursive: bool = False


def _chmod(path: str, mode: int, recursive: bool) -> None:
    os.chmod(path, mode)
    if recursive and os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                target = Path(root, name)
                if not target.is_symlink():
                    os.chmod(target, mode)


async def chmod(ctx: Context, args: ChmodArgs) -> bool:
    await _fs("filesystem.chmod", lambda: _chmod(args.path, args.mode, args.recursive))
    return True


COMMANDS = [
    Command("filesystem.open", OpenArgs, open_file),
    Command("filesystem.read", FdArgs, read),
    Command("filesystem.write", WriteArgs, write),
    Command("filesystem.close", FdArgs, close),
    Command("filesystem.exists", PathArgs, exists),
    Command("filesystem.list", PathArgs, list_dir),
    Command("filesystem.mkdir", PathArgs, mkdir),
    Command("filesystem.remove", PathArgs, remove),
    Command("filesystem.move", MoveArgs, move),
    Command("filesystem.chmod", ChmodArgs, chmod),
]
