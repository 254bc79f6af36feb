"""Real FUSE mounts of real flists for the mount tests: served by `zos flist mount`."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.zdb.conftest import ZdbProcess
from zeroos.flist.create import create
from zeroos.flist.mount.cache import BlockCache
from zeroos.flist.mount.system import mounted_at

BLOCK_SIZE = 64 * 1024
MOUNT_TIMEOUT = 30.0


def _need_fuse() -> None:
    if os.geteuid() != 0 or not Path("/dev/fuse").exists():
        pytest.skip("the mount tests need root and /dev/fuse")


class MountProcess:
    """One `zos flist mount` process; stop() leaves neither it nor its mounts behind."""

    def __init__(self, flist: Path, mountpoint: Path, cache: Path, *args: str) -> None:
        self.mountpoint = mountpoint
        self.log = mountpoint.with_name(mountpoint.name + ".log")
        cmd = [sys.executable, "-m", "zeroos.cli", "flist", "mount", str(flist),
               str(mountpoint), "--cache", str(cache), *args]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        self.rw = "--rw" in args
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not self.mounted():
            if self.proc.poll() is not None:
                raise RuntimeError(f"mount exited with {self.proc.returncode}: {self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"not mounted after {MOUNT_TIMEOUT}s: {self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def mounted(self) -> bool:
        entry = mounted_at(self.mountpoint)
        wanted = "overlay" if self.rw else "fuse.zos-flist"
        return entry is not None and entry.fstype == wanted

    def wait_gone(self, timeout: float = MOUNT_TIMEOUT) -> int:
        """The exit code once the process ended; its mounts must be gone by then."""
        code = self.proc.wait(timeout)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(MOUNT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # a test that failed half-way must still leave no mount behind
        for path in (self.mountpoint, self.mountpoint.with_name(self.mountpoint.name + ".rw")
                     / "lower"):  # fmt: skip
            while mounted_at(path) is not None:
                subprocess.run(["umount", "-l", str(path)], check=False)


def leftover_mounts(root: Path) -> list[str]:
    """Mounts under `root` still listed by the kernel."""
    text = Path("/proc/self/mounts").read_text()
    return [line for line in text.splitlines() if str(root) in line]


@pytest.fixture
def mounter(tmp_path: Path) -> Iterator[object]:
    """mounter(flist, *args, cache=..., name=...) -> MountProcess, all stopped at the end."""
    _need_fuse()
    started: list[MountProcess] = []

    def start(
        flist: Path, *args: str, cache: Path | None = None, name: str = "mnt"
    ) -> MountProcess:
        mountpoint = tmp_path / name
        mountpoint.mkdir(exist_ok=True)
        proc = MountProcess(flist, mountpoint, cache or tmp_path / "cache", *args)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()
        assert leftover_mounts(tmp_path) == []


@pytest.fixture
def zdb_store(tmp_path: Path) -> Iterator[ZdbProcess]:
    server = ZdbProcess(tmp_path / "zdb").start()
    try:
        yield server
    finally:
        server.stop()


def make_tree(root: Path) -> Path:
    """A tree holding every kind of entry, odd modes, owners and times."""
    root.mkdir()
    (root / "empty-dir").mkdir()
    deep = root / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (root / "empty").write_bytes(b"")
    (root / "small.txt").write_text("hello flist\n")
    (root / "one-block").write_bytes(os.urandom(BLOCK_SIZE))
    (root / "multi").write_bytes(os.urandom(5 * BLOCK_SIZE + 123))
    (deep / "zeros").write_bytes(bytes(3 * BLOCK_SIZE))  # identical blocks: deduplicated
    (root / "name with spaces é").write_text("unicode\n")
    (root / "secret").write_bytes(b"mode 600")
    os.chmod(root / "secret", 0o600)
    (root / "setuid").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "setuid", 0o4755)
    os.chmod(root / "a" / "b", 0o750)
    os.chown(root / "small.txt", 1234, 5678)
    os.symlink("small.txt", root / "rel-link")
    os.symlink("/etc/passwd", root / "abs-link")
    os.symlink("nowhere", root / "dangling")
    os.symlink("a/b", root / "dir-link")
    os.lchown(root / "rel-link", 42, 43)
    os.link(root / "multi", deep / "multi-hardlink")
    os.mkfifo(root / "fifo")
    os.mknod(root / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(root / "loop9", 0o660 | stat.S_IFBLK, os.makedev(7, 9))
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock"))
    for i, path in enumerate(sorted(root.rglob("*"), reverse=True)):
        os.utime(path, (1_500_000_000 + i, 1_600_000_000 + i * 7), follow_symlinks=False)
    os.utime(root, (1_500_000_000, 1_600_000_000))
    return root


def build_flist(src: Path, out: Path, store: str) -> Path:
    create(src, out, [store], block_size=BLOCK_SIZE)
    return out


def cached_soon(cache: Path, ids: Iterable[bytes], timeout: float = 30) -> bool:
    """Whether every block of `ids` is in the cache at `cache` within `timeout` seconds
    (a mount writes blocks to it from a thread of its own, just after the read has them)."""
    wanted = list(ids)
    blocks = BlockCache(cache, 1 << 40, refresh=False)
    try:
        deadline = time.monotonic() + timeout
        while not all(blocks.get(i) is not None for i in wanted):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True
    finally:
        blocks.close()
