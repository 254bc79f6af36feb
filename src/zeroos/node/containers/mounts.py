"""The node's flist mount service: one process serving the flists of all its containers.

`zos node mount-service` (zeroos.flist.mount.many) mounts ``DATA/mounts/flists`` once and
serves each flist a container runs from as a folder there; a container's root is an overlay
on that folder. The service runs in a session of its own, so it outlives the node (kill -9
included): the next node finds it answering on its socket and keeps it. A service found dead
is replaced: its mount is detached and the flists of the running containers are served again
(a dead service's mount cannot be served again: the roots of containers already on it are
lost, and said so in the log). It stops with the node when no container is left.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path

from ...common.log import event
from ...flist.mount.many_client import ManyClient
from ...flist.mount.system import MountError, mounted_at, mounts, unmount_path
from ..errors import CommandError

log = logging.getLogger("zeroos.node")

START_TIMEOUT = 60.0  # seconds a new service has to answer (a loaded machine imports slowly)
PING_TIMEOUT = 5.0  # seconds a running service has to answer before it counts as hung
STOP_TIMEOUT = 10.0
# flists no container uses any more kept served (at most this many, the least recently used go
# first): the next container of one finds its files in the page cache, not behind FUSE
IDLE_KEPT = 4


def member_name(flist: Path) -> str:
    """The folder an flist file is served as: its path and version (a rewritten file is new)."""
    info = flist.stat()
    key = f"{flist.resolve()}\0{info.st_ino}\0{info.st_size}\0{info.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class FlistMounts:
    """The service of one node's data folder, and which containers use each flist it serves."""

    def __init__(self, data: Path, cache: Path) -> None:
        self.folder = data / "mounts"
        self.mountpoint = self.folder / "flists"
        self.cache = cache
        self.client = ManyClient(self.mountpoint)
        self.users: dict[str, set[int]] = {}  # folder -> containers on it
        self.idle: OrderedDict[str, None] = OrderedDict()  # served, no user (oldest first)
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._hold: socket.socket | None = None  # open while this node runs: see many.py

    @property
    def _pid_file(self) -> Path:
        return self.folder / "service.pid"

    def running(self) -> bool:
        """Whether a service answers (within PING_TIMEOUT)."""
        try:
            self.client.names(timeout=PING_TIMEOUT)
        except MountError:
            return False
        return True

    def ensure(self) -> bool:
        """Make sure a service answers: the one running kept, else a new one; True if new."""
        with self._lock:
            return self._ensure()

    def _ensure(self) -> bool:
        if self.running():
            if self._hold is None:
                self._hold = self.client.hold()
            return False
        self._clear_dead()
        self._start()
        self._let_go()
        self._hold = self.client.hold()
        return True

    def _let_go(self) -> None:
        if self._hold is not None:
            self._hold.close()
            self._hold = None

    def _clear_dead(self) -> None:
        """What a dead or hung service left: its process killed, its mount detached."""
        try:
            pid = int(self._pid_file.read_text())
        except (OSError, ValueError):
            pid = 0
        ours = self._child
        if pid and self._is_service(pid):
            event(log, "mount_service_hung", level=logging.WARNING, pid=pid)
            os.kill(pid, signal.SIGKILL)
            if ours is None or ours.pid != pid:
                _wait_gone(pid, STOP_TIMEOUT)
        if ours is not None:  # a service this node started: reaped, not left a zombie
            self._child = None
            with contextlib.suppress(subprocess.TimeoutExpired):
                ours.wait(STOP_TIMEOUT)
        if mounted_at(self.mountpoint) is not None:
            event(log, "mount_service_dead", level=logging.WARNING, mount=self.mountpoint)
            unmount_path(self.mountpoint, lazy=True)

    def _is_service(self, pid: int) -> bool:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return b"mount-service" in argv and os.fsencode(self.mountpoint) in argv

    def _start(self) -> None:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        log_path = self.folder / "service.log"
        argv = [
            sys.executable,
            "-m",
            "zeroos.cli",
            "node",
            "mount-service",
            "--cache",
            str(self.cache),
            str(self.mountpoint),
        ]
        with log_path.open("ab") as sink:
            # its own session: neither a kill -9 of the node nor a signal to its group stops it
            child = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, start_new_session=True
            )
        self._child = child
        self._pid_file.write_text(str(child.pid))
        deadline = time.monotonic() + START_TIMEOUT
        while not self.running():
            if child.poll() is not None:
                raise CommandError(f"the flist mount service stopped: {_last_line(log_path)}")
            if time.monotonic() > deadline:
                child.kill()
                child.wait()
                raise CommandError(f"the flist mount service did not answer in {START_TIMEOUT:g} s")
            time.sleep(0.02)
        event(log, "mount_service_started", pid=child.pid, mount=self.mountpoint)

    def acquire(self, flist: Path, container: int) -> tuple[str, Path]:
        """Serve ``flist`` for ``container``: its folder's name and path."""
        name = member_name(flist)
        with self._lock:
            path = self.mountpoint / name
            # one served already (another container's, or kept idle) needs no request on the
            # socket while its folder answers (a dead service's mount says ENOTCONN, a new
            # service's ENOENT)
            known = name in self.users or name in self.idle
            if not (known and _answers(path)):
                try:
                    path = self.client.add(name, flist)
                except MountError:
                    if not self._ensure():  # it answers: the refusal is about this flist
                        raise
                    path = self.client.add(name, flist)
            self.users.setdefault(name, set()).add(container)
            self.idle.pop(name, None)
        return name, path

    def adopt(self, name: str, flist: Path, container: int) -> None:
        """A running container a previous node left: its flist served (again, if the service
        is new), counted as used."""
        with self._lock:
            self.client.add(name, flist)
            self.users.setdefault(name, set()).add(container)
            self.idle.pop(name, None)

    def release(self, name: str, container: int) -> None:
        """``container`` is done with folder ``name``; with its last user gone it is kept
        served while idle (IDLE_KEPT at most), then stops being served."""
        with self._lock:
            users = self.users.get(name, set())
            users.discard(container)
            if users:
                return
            self.users.pop(name, None)
            self.idle[name] = None
            while len(self.idle) > IDLE_KEPT:
                oldest, _ = self.idle.popitem(last=False)
                if self.running():
                    self.client.remove(oldest)

    def in_use(self) -> list[Path]:
        """The mounts on the service's folders (overlays of containers), whatever made them."""
        under = f"{self.mountpoint}/"
        return [
            entry.target
            for entry in mounts()
            if entry.fstype == "overlay" and entry.options.get("lowerdir", "").startswith(under)
        ]

    def stop(self) -> None:
        """Stop the service (the node stops with no container left); nothing stays mounted.

        Kept when a root still stands on it (a container the node does not know, say): its
        files would be gone from under it."""
        used = self.in_use()
        if used:
            event(
                log, "mount_service_kept", level=logging.WARNING, used_by=used[0], count=len(used)
            )
            with self._lock:
                self._let_go()
            return
        with self._lock:
            self._let_go()
            try:
                pid, _ = self.client.names(timeout=PING_TIMEOUT)
            except MountError:
                self._clear_dead()
                return
            self.client.stop()
            if self._child is not None and self._child.pid == pid:
                try:
                    self._child.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self._child.kill()
                    self._child.wait()
            else:
                _wait_gone(pid, STOP_TIMEOUT)
            self._child = None
            self.idle.clear()
            self._pid_file.unlink(missing_ok=True)
            if mounted_at(self.mountpoint) is not None:
                unmount_path(self.mountpoint, lazy=True)
        event(log, "mount_service_stopped", pid=pid)


def _answers(path: Path) -> bool:
    """Whether the service answers for ``path``: statfs always goes to it (a stat may be
    answered from the kernel's cache of a mount whose service is gone)."""
    try:
        os.statvfs(path)
    except OSError:
        return False
    return True


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1].strip() if lines else "no log"


__all__ = ["FlistMounts", "member_name"]
