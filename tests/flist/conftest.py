"""Fixtures of the flist tests: trees holding every entry type, real zero-db servers."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zeroos.testing import ZdbProcess, free_port
from zeroos.zdb import Client

IS_ROOT = os.geteuid() == 0
__all__ = ["IS_ROOT", "free_port", "make_tree", "snapshot"]


def make_tree(root: Path, *, big: int = 1_300_000, devices: bool = IS_ROOT) -> Path:
    """A tree with every entry type: files, dirs, symlinks, hard links, fifos, devices, ..."""
    root.mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_text("node1\n")
    (root / "etc" / "secret").write_bytes(b"s3cr3t")
    os.chmod(root / "etc" / "secret", 0o600)
    (root / "bin").mkdir(mode=0o750)
    (root / "bin" / "tool").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(root / "bin" / "tool", 0o4755)
    (root / "empty").write_bytes(b"")
    (root / "large").write_bytes(os.urandom(big))  # spans several blocks
    (root / "same-as-large").write_bytes((root / "large").read_bytes())  # dedup
    with open(root / "sparse", "wb") as f:
        f.truncate(3 * 1024 * 1024)
        f.seek(1024 * 1024 + 5)
        f.write(b"middle")
    os.link(root / "etc" / "hostname", root / "hostname-link")
    os.symlink("etc/hostname", root / "rel-link")
    os.symlink("/etc/passwd", root / "abs-link")
    os.symlink("missing", root / "dangling")
    os.mkfifo(root / "pipe")
    (root / "deep" / "a" / "b" / "c").mkdir(parents=True)
    (root / "deep" / "a" / "b" / "c" / "leaf").write_text("leaf")
    (root / "empty-dir").mkdir()
    (root / "ünïcode name").write_text("utf-8 names work")
    if devices:
        os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(root / "loop9", stat.S_IFBLK | 0o660, os.makedev(7, 9))
    if IS_ROOT:
        os.chown(root / "etc" / "hostname", 1234, 5678)
        os.lchown(root / "rel-link", 42, 43)
    for i, path in enumerate(sorted(root.rglob("*"), reverse=True)):
        os.utime(path, (1_600_000_000 + i, 1_600_000_000 + i), follow_symlinks=False)
    os.utime(root, (1_500_000_000, 1_500_000_000))
    return root


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Everything extract must reproduce: type, mode, owner, size, mtime, content/target."""
    out: dict[str, tuple[object, ...]] = {}
    inodes: dict[int, str] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = os.lstat(path)
        rel = "/" + str(path.relative_to(root)) if path != root else "/"
        if stat.S_ISREG(st.st_mode):
            body: object = path.read_bytes()
        elif stat.S_ISLNK(st.st_mode):
            body = os.readlink(path)
        else:
            body = None
        link = inodes.setdefault(st.st_ino, rel) if stat.S_ISREG(st.st_mode) else None
        rdev = st.st_rdev if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else 0
        size = st.st_size if not stat.S_ISDIR(st.st_mode) else 0
        out[rel] = (st.st_mode, st.st_uid, st.st_gid, size, int(st.st_mtime), rdev, body, link)
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "tree")


@pytest.fixture(scope="session")
def zdb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZdbProcess]:
    """One zero-db shared by the flist tests (each test uses its own namespace)."""
    server = ZdbProcess(tmp_path_factory.mktemp("flist-zdb")).start()
    yield server
    server.stop()


_count = [0]


@pytest.fixture
def zdb_url(zdb_server: ZdbProcess) -> Callable[[], str]:
    """A fresh zero-db namespace (with a password) as a zdb:// URL."""

    def make() -> str:
        _count[0] += 1
        name = f"fl{_count[0]}x{os.getpid()}"
        with Client(port=zdb_server.port, timeout=10) as admin:
            admin.nsnew(name)
            admin.nsset(name, "password", "pw")
        return f"zdb://:pw@127.0.0.1:{zdb_server.port}/{name}"

    return make
