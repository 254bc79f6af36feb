"""A container's root: its flist fetched, served read-only by the node's mount service
(mounts.py), a writable overlay on top.

The overlay is the container's own mount; the flist's folder in the service is shared by every
container of that flist. A restarted node finds the overlay in the mount table again and
mounts nothing twice.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from pathlib import Path
from urllib.parse import urlparse

from ...common.http import HttpApi, download
from ...flist.errors import FlistError
from ...flist.format import Flist
from ...flist.mount.system import mount_overlay, mounted_at, unmount_quietly
from ..errors import CommandError

FETCH_TIMEOUT = 60.0
GONE_TIMEOUT = 10.0  # seconds an old per-container mount's server has to exit once unmounted


def fetch(url: str, cache: Path) -> Path:
    """The flist ``url`` names as a local file: a path as it is, an http(s) URL downloaded once."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".fl")
        if not path.exists():
            _download(url, path)
    elif parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme else url)
        if not path.is_file():
            raise CommandError(f"root flist {url}: no such file")
    else:
        raise CommandError(f"root flist {url}: use a path or an http(s) URL, not {parsed.scheme}:")
    info = path.stat()
    _check(url, path, info.st_ino, info.st_size, info.st_mtime_ns)
    return path


@functools.lru_cache(maxsize=64)
def _check(url: str, path: Path, ino: int, size: int, mtime_ns: int) -> None:
    """That ``path`` is an flist naming a store, once per version of the file (a rewritten one
    is checked again; a refused one every time)."""
    try:
        with Flist.open(path) as flist:
            if not flist.routes():
                raise CommandError(f"root flist {url} names no store to read its blocks from")
    except FlistError as exc:
        raise CommandError(f"root flist {url} is not a usable flist: {exc}") from exc


def _download(url: str, path: Path) -> None:
    def refused(reason: str, status: int) -> CommandError:
        return CommandError(f"root flist {url}: {reason} (HTTP {status})")

    download(url, path, HttpApi("the root flist's server", CommandError, refused=refused),
             timeout=FETCH_TIMEOUT)  # fmt: skip


def overlay_root(lower: Path, folder: Path) -> Path:
    """A writable root at ``folder/root``: an overlay on ``lower`` (the flist's folder in the
    node's mount service), changes in ``folder/rw/upper``; the root path."""
    root = folder / "root"
    upper, work = folder / "rw" / "upper", folder / "rw" / "work"
    for path in (root, upper, work):
        path.mkdir(parents=True, exist_ok=True)
    if mounted_at(root) is None:  # a restarted node, or a create that got this far
        try:
            mount_overlay(lower, upper, work, root)
        except FlistError as exc:
            raise CommandError(f"cannot mount the root of {folder.name}: {exc}") from exc
    return root


def mount_servers(root: Path) -> list[int]:
    """The pids of `zos flist mount` servers serving ``root``."""
    needle = os.fsencode(str(root))
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in argv and b"mount" in argv and b"flist" in argv:
            found.append(int(entry.name))
    return found


def unmount_root(root: Path) -> None:
    """Unmount a container's root overlay (and the FUSE mount of its own that containers made
    before the mount service had under it, waiting for its server to exit)."""
    own_lower = root.parent / "rw" / "lower"
    servers = mount_servers(root)
    try:
        unmount_quietly(root)
        unmount_quietly(own_lower)
    except FlistError as exc:
        raise CommandError(f"cannot unmount {root}: {exc}") from exc
    deadline = time.monotonic() + GONE_TIMEOUT
    for pid in servers:
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)


__all__ = ["fetch", "mount_servers", "overlay_root", "unmount_root"]
