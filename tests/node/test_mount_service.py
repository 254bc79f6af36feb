"""The node's flist mount service: many flists on one FUSE mount, one process, as root."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from zeroos.flist.create import create as create_flist
from zeroos.flist.mount.many_client import ManyClient
from zeroos.flist.mount.system import MountError, mount_overlay, unmount_path
from zeroos.node.containers.mounts import IDLE_KEPT, FlistMounts

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="FUSE mounts need root here")


def _flist(root: Path, name: str, text: str) -> Path:
    tree = root / f"{name}-tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "motd").write_text(text)
    (tree / "big").write_bytes(os.urandom(3 * 512 * 1024 + 17))  # blocks of their own
    os.link(tree / "etc" / "motd", tree / "etc" / "motd.link")
    (tree / "motd").symlink_to("etc/motd")
    out = root / f"{name}.fl"
    create_flist(tree, out, [f"dir://{root / 'blocks'}"])
    return out


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (the killed service stays a zombie until its parent, this test's
    process, reaps it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def mounts(tmp_path: Path) -> Iterator[FlistMounts]:
    service = FlistMounts(tmp_path / "data", tmp_path / "cache")
    service.ensure()
    yield service
    service.stop()
    assert str(tmp_path) not in Path("/proc/mounts").read_text()


def test_many_flists_one_mount_one_process(mounts: FlistMounts, tmp_path: Path) -> None:
    one, two = _flist(tmp_path, "one", "first\n"), _flist(tmp_path, "two", "second\n")
    name1, path1 = mounts.acquire(one, 1)
    name2, path2 = mounts.acquire(two, 2)
    assert mounts.acquire(one, 3) == (name1, path1)  # the same flist: one folder, two users
    assert sorted(os.listdir(mounts.mountpoint)) == sorted([name1, name2])
    for path, text, name in ((path1, "first\n", "one"), (path2, "second\n", "two")):
        assert sorted(os.listdir(path)) == ["big", "etc", "motd"]
        assert (path / "motd").read_text() == text  # a symlink, within its own flist
        assert (path / "etc" / "motd.link").read_text() == text
        assert (path / "etc" / "motd").stat().st_nlink == 2
        assert (path / "etc" / "motd").stat().st_ino == (path / "etc" / "motd.link").stat().st_ino
        assert (path / "big").read_bytes() == (tmp_path / f"{name}-tree" / "big").read_bytes()

    # inodes of two flists never meet, though each flist numbers its own from 1
    assert (path1 / "etc").stat().st_ino != (path2 / "etc").stat().st_ino
    pid, _ = mounts.client.names()
    mounts.release(name1, 1)
    assert name1 in os.listdir(mounts.mountpoint)  # container 3 still uses it
    mounts.release(name1, 3)
    mounts.release(name2, 2)
    # unused, both stay served (for the next container of them) up to IDLE_KEPT flists ...
    assert sorted(os.listdir(mounts.mountpoint)) == sorted([name1, name2])
    more = [_flist(tmp_path, f"more{i}", f"{i}\n") for i in range(IDLE_KEPT - 1)]
    names = [mounts.acquire(flist, 10 + i)[0] for i, flist in enumerate(more)]
    for i, name in enumerate(names):
        mounts.release(name, 10 + i)
    # ... the least recently used going first
    assert sorted(os.listdir(mounts.mountpoint)) == sorted([name2, *names])
    assert mounts.acquire(two, 4) == (name2, path2)  # an idle one is used again as it is
    assert (path2 / "motd").read_text() == "second\n"
    assert mounts.client.names()[0] == pid  # one process served them all


def test_a_flist_in_use_is_served_again_when_its_service_died(
    mounts: FlistMounts, tmp_path: Path
) -> None:
    one = _flist(tmp_path, "one", "first\n")
    name, path = mounts.acquire(one, 1)
    pid, _ = mounts.client.names()
    assert mounts.acquire(one, 2) == (name, path)  # served already: its folder answers
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while _running(pid):
        assert time.monotonic() < deadline, "the killed service is still there"
        time.sleep(0.02)
    # its folder no longer answers: a new service is started and serves it again
    assert mounts.acquire(one, 3) == (name, path)
    assert mounts.client.names()[0] != pid
    assert (path / "etc" / "motd").read_text() == "first\n"


def test_bad_requests_are_one_error_each(mounts: FlistMounts, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.fl"
    corrupt.write_bytes(b"this is no flist" * 100)
    client = ManyClient(mounts.mountpoint, timeout=10)
    cases = {
        "no such flist file": {"op": "add", "name": "x", "flist": str(tmp_path / "none.fl")},
        "not a readable flist": {"op": "add", "name": "x", "flist": str(corrupt)},
        "is no folder name": {"op": "add", "name": "../x", "flist": str(corrupt)},
        "missing 'flist'": {"op": "add", "name": "x"},
        "unknown op": {"op": "format"},
    }
    for said, request in cases.items():
        with pytest.raises(MountError, match=said.replace("'", ".")):
            client.call(request)
    assert mounts.running()  # and it keeps serving
    assert os.listdir(mounts.mountpoint) == []


def test_a_root_still_on_it_keeps_the_service(mounts: FlistMounts, tmp_path: Path) -> None:
    name, path = mounts.acquire(_flist(tmp_path, "one", "first\n"), 1)
    parts = [tmp_path / "root", tmp_path / "upper", tmp_path / "work"]
    for part in parts:
        part.mkdir()
    mount_overlay(path, parts[1], parts[2], parts[0])
    try:
        mounts.release(name, 1)
        mounts.stop()  # a container the node does not know stands on it: kept
        assert mounts.running()
        assert (parts[0] / "motd").read_text() == "first\n"
        assert mounts.in_use() == [parts[0]]
    finally:
        unmount_path(parts[0])
