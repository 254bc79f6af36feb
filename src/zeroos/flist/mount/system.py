"""The kernel's side of a mount: the mount table, overlayfs, and unmounting."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import FlistError

# The FUSE subtype of our mounts: /proc/mounts lists them as type "fuse.zos-flist".
SUBTYPE = "zos-flist"
FUSE_TYPE = f"fuse.{SUBTYPE}"
_MNT_DETACH = 2
_MS_NODEV = 4
_ESCAPE = re.compile(r"\\([0-7]{3})")
_libc = ctypes.CDLL(None, use_errno=True)


class MountError(FlistError):
    """A mount or unmount the kernel refused, or a path that is not an flist mount."""


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One line of /proc/mounts."""

    source: str
    target: Path
    fstype: str
    options: dict[str, str]


def _unescape(field: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def mounts() -> list[MountEntry]:
    """The mounts of this process's namespace, in the order they were made."""
    entries = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        source, target, fstype, options = line.split(" ")[:4]
        opts = {}
        for option in options.split(","):
            key, _, value = option.partition("=")
            opts[key] = _unescape(value)
        entries.append(MountEntry(_unescape(source), Path(_unescape(target)), fstype, opts))
    return entries


def mounted_at(path: Path) -> MountEntry | None:
    """The topmost mount at a path, or None."""
    target = path.resolve()
    found = None
    for entry in mounts():
        if entry.target == target:
            found = entry
    return found


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise MountError(f"{what}: {os.strerror(code)}")


def set_read_ahead(mountpoint: Path, kib: int) -> None:
    """Set the kernel's read-ahead of the mount at `mountpoint` (its own bdi, as root).

    Best effort: without the right to (not root) the kernel's default stays. `mountpoint` is
    taken as it is (resolved already): resolving it would ask a mount that is not serving yet.
    """
    target = mountpoint
    device = None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" ")
        if Path(_unescape(fields[4])) == target:
            device = fields[2]  # major:minor, the name of the mount's bdi (the last: topmost)
    if device is None:
        return
    with contextlib.suppress(OSError):
        Path(f"/sys/class/bdi/{device}/read_ahead_kb").write_text(str(kib))


def mount_overlay(lower: Path, upper: Path, work: Path, target: Path) -> None:
    """Put a writable overlayfs on a read-only tree: changes land in `upper`, never in `lower`.

    Mounted nodev, like the FUSE mount under it: a device node in an flist opens nothing.
    """
    for path in (lower, upper, work):
        if any(c in str(path) for c in ",:\\"):
            raise MountError(f"overlay paths may not hold ',', ':' or '\\': {path}")
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    result = _libc.mount(
        b"overlay", os.fsencode(target), b"overlay", ctypes.c_ulong(_MS_NODEV), options.encode()
    )
    _check(result, f"cannot mount an overlay on {target}")


def unmount_path(target: Path, *, lazy: bool = False) -> None:
    """Unmount whatever is mounted at `target` (lazily: detach it now, free it when unused)."""
    result = _libc.umount2(os.fsencode(target), _MNT_DETACH if lazy else 0)
    _check(result, f"cannot unmount {target}")


def unmount(mountpoint: Path) -> None:
    """Unmount an flist mounted by `zos flist mount`, with its overlay if it has one.

    The serving process sees its FUSE mount go and exits.
    """
    entry = mounted_at(mountpoint)
    if entry is None:
        raise MountError(f"nothing is mounted at {mountpoint}")
    if entry.fstype == "overlay":
        lowerdir = entry.options.get("lowerdir")
        lower = mounted_at(Path(lowerdir)) if lowerdir else None
        if lower is None or lower.fstype != FUSE_TYPE:
            raise MountError(f"{mountpoint} is an overlay, but not over an flist")
        unmount_path(entry.target)
        unmount_path(lower.target)
    elif entry.fstype == FUSE_TYPE:
        unmount_path(entry.target)
    else:
        raise MountError(f"{mountpoint} is not an flist mount (it is {entry.fstype})")


def unmount_quietly(target: Path) -> None:
    """Unmount if still mounted; busy users keep a detached view until they let go."""
    if mounted_at(target) is None:
        return
    try:
        unmount_path(target)
    except MountError:
        with contextlib.suppress(MountError):
            unmount_path(target, lazy=True)
