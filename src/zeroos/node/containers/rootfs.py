"""A container's root: its flist fetched, FUSE-mounted read-only, a writable overlay on top.

The mount is `zos flist mount --rw --daemon` (zeroos.flist.mount), one detached server per
container: it outlives a restart of the node, which finds it in the mount table again and
mounts nothing twice. Unmounting the overlay and the FUSE mount (zeroos.flist.mount.unmount)
ends that server.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from ...common.http import HttpApi, download
from ...flist.errors import FlistError
from ...flist.format import Flist
from ...flist.mount.system import mounted_at, unmount
from ..errors import CommandError

FETCH_TIMEOUT = 60.0
MOUNT_TIMEOUT = 60.0
GONE_TIMEOUT = 10.0  # seconds the mount's server has to exit once unmounted


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
    try:
        with Flist.open(path) as flist:
            if not flist.routes():
                raise CommandError(f"root flist {url} names no store to read its blocks from")
    except FlistError as exc:
        raise CommandError(f"root flist {url} is not a usable flist: {exc}") from exc
    return path


def _download(url: str, path: Path) -> None:
    def refused(reason: str, status: int) -> CommandError:
        return CommandError(f"root flist {url}: {reason} (HTTP {status})")

    download(url, path, HttpApi("the root flist's server", CommandError, refused=refused),
             timeout=FETCH_TIMEOUT)  # fmt: skip


def mount_root(flist: Path, folder: Path, cache: Path) -> Path:
    """Mount ``flist`` writable at ``folder/root`` (changes in ``folder/rw``); the root path."""
    root = folder / "root"
    root.mkdir(parents=True, exist_ok=True)
    if mounted_at(root) is not None:  # a restarted node, or a create that got this far
        return root
    argv = [
        sys.executable,
        "-m",
        "zeroos.cli",
        "flist",
        "mount",
        "--rw",
        "--rw-dir",
        str(folder / "rw"),
        "--cache",
        str(cache),
        "--daemon",
        "--log",
        str(folder / "mount.log"),
        str(flist),
        str(root),
    ]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=MOUNT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CommandError(f"mounting {flist}: not mounted in {MOUNT_TIMEOUT:.0f} s") from exc
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise CommandError(f"cannot mount {flist}: {said[0] if said else 'failed'}")
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
    """Unmount the overlay and the FUSE mount under it; wait for their server to exit."""
    servers = mount_servers(root)
    if mounted_at(root) is not None:
        try:
            unmount(root)
        except FlistError as exc:
            raise CommandError(f"cannot unmount {root}: {exc}") from exc
    deadline = time.monotonic() + GONE_TIMEOUT
    for pid in servers:
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)


__all__ = ["fetch", "mount_root", "mount_servers", "unmount_root"]
