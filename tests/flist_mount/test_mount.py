"""A real FUSE mount of an flist shows its tree exactly: bytes, modes, owners, links, times."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from zeroos.flist.format import Flist
from zeroos.flist.mount.cache import BlockCache
from zeroos.flist.mount.system import mounted_at

from .conftest import BLOCK_SIZE, build_flist, cached_soon, make_tree


def _facts(path: Path) -> dict[str, Any]:
    """Everything a mount must reproduce about one entry (not st_ino, compared apart)."""
    st = os.lstat(path)
    facts: dict[str, Any] = {
        "mode": st.st_mode,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "mtime": int(st.st_mtime),
        "ctime": int(st.st_ctime),
    }
    if stat.S_ISREG(st.st_mode):
        facts["size"] = st.st_size
        facts["nlink"] = st.st_nlink
        facts["sha"] = hashlib.sha256(path.read_bytes()).hexdigest()
    elif stat.S_ISLNK(st.st_mode):
        facts["size"] = st.st_size
        facts["target"] = os.readlink(path)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        facts["rdev"] = st.st_rdev
    return facts


def _tree_facts(root: Path) -> dict[str, dict[str, Any]]:
    found = {".": _facts(root)}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(top) / name
            found[str(path.relative_to(root))] = _facts(path)
    return found


def test_mount_shows_every_entry_exactly(tmp_path: Path, mounter: Any) -> None:
    src = make_tree(tmp_path / "src")
    flist = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    mount = mounter(flist)
    mnt = mount.mountpoint

    assert _tree_facts(mnt) == _tree_facts(src)
    # a hard link is one inode under two names, as on the disk it came from
    assert os.lstat(mnt / "multi").st_ino == os.lstat(mnt / "a/b/c/multi-hardlink").st_ino
    assert os.lstat(mnt / "multi").st_ino != os.lstat(mnt / "one-block").st_ino
    # sizes a reader asks for at odd offsets, across block borders
    data = (src / "multi").read_bytes()
    with open(mnt / "multi", "rb") as f:
        for offset, size in [(BLOCK_SIZE - 3, 10), (3 * BLOCK_SIZE + 1, 2 * BLOCK_SIZE), (0, 1)]:
            f.seek(offset)
            assert f.read(size) == data[offset : offset + size]
        f.seek(len(data) - 5)
        assert f.read(100) == data[-5:]
    # read-only, and devices are entries, not ways into the host
    with pytest.raises(OSError, match="Read-only"):
        (mnt / "new").write_bytes(b"x")
    with pytest.raises(OSError, match="Read-only"):
        open(mnt / "small.txt", "r+b").close()
    with pytest.raises(OSError, match="Permission denied"):  # mounted nodev
        open(mnt / "null", "rb").close()
    assert os.path.realpath(mnt / "dir-link") == str(mnt / "a" / "b")


def test_two_mounts_share_one_cache(tmp_path: Path, mounter: Any) -> None:
    src = make_tree(tmp_path / "src")
    flist = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    cache = tmp_path / "shared-cache"
    first = mounter(flist, cache=cache, name="one")
    second = mounter(flist, cache=cache, name="two")
    expected = _tree_facts(src)

    # both read at once: same blocks written to the shared cache by two processes
    results: dict[str, Any] = {}

    def read(mount: Any) -> None:
        results[mount.mountpoint.name] = _tree_facts(mount.mountpoint)

    threads = [threading.Thread(target=read, args=(m,)) for m in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == {"one": expected, "two": expected}

    # the store goes away: a third mount of the same cache still reads everything
    with Flist.open(flist) as fl:
        assert cached_soon(cache, (ref.id for _, ref in fl.all_blocks()))
    shutil.rmtree(tmp_path / "blocks")
    third = mounter(flist, cache=cache, name="three")
    assert _tree_facts(third.mountpoint) == expected
    cached = BlockCache(cache, 1 << 30, refresh=False)
    with Flist.open(flist) as fl:
        ids = {ref.id for _, ref in fl.all_blocks()}
    assert all(cached.get(i) is not None for i in ids)


def _bytes_in(folder: Path) -> int:
    """The bytes of the files in a folder now (one deleted while counted counts nothing)."""
    held = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(FileNotFoundError):
            if path.is_file():
                held += path.stat().st_size
    return held


def test_cache_stays_within_its_bound(tmp_path: Path, mounter: Any) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(8):
        (src / f"f{i}").write_bytes(os.urandom(8 * BLOCK_SIZE))  # 4 MiB in all
    flist = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    bound = 1024 * 1024
    mount = mounter(flist, "--cache-size", str(bound))
    for i in range(8):
        assert (mount.mountpoint / f"f{i}").read_bytes() == (src / f"f{i}").read_bytes()
        held = _bytes_in(tmp_path / "cache")  # the mount may be writing and evicting meanwhile
        assert 0 < held <= bound
    # the least recently used went first: the last file's blocks are still there, the first's
    # gone (a file's first block is fetched early, when the reader opens the files before it)
    with Flist.open(flist) as fl:
        last = fl.blocks(fl.resolve("/f7").ino)
        first = fl.blocks(fl.resolve("/f0").ino)
    assert cached_soon(tmp_path / "cache", (ref.id for ref in last[1:]))
    cache = BlockCache(tmp_path / "cache", bound, refresh=False)
    assert all(cache.get(ref.id) is not None for ref in last[1:])
    assert all(cache.get(ref.id) is None for ref in first[1:])


def test_rw_overlay_keeps_the_flist_unchanged(tmp_path: Path, mounter: Any) -> None:
    src = make_tree(tmp_path / "src")
    flist = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    before = hashlib.sha256(flist.read_bytes()).hexdigest()
    blocks_before = sorted(p.name for p in (tmp_path / "blocks").rglob("*") if p.is_file())
    mount = mounter(flist, "--rw", "--rw-dir", str(tmp_path / "changes"))
    mnt = mount.mountpoint

    (mnt / "new-file").write_bytes(b"written through the overlay")
    with open(mnt / "small.txt", "ab") as f:
        f.write(b"appended\n")
    (mnt / "secret").unlink()
    (mnt / "a" / "new-dir").mkdir()
    os.chmod(mnt / "multi", 0o600)
    with pytest.raises(OSError, match="Permission denied"):  # the overlay is nodev too
        open(mnt / "null", "rb").close()

    upper = tmp_path / "changes" / "upper"
    assert (upper / "new-file").read_bytes() == b"written through the overlay"
    assert (upper / "small.txt").read_bytes() == b"hello flist\nappended\n"
    assert stat.S_ISCHR(os.lstat(upper / "secret").st_mode)  # overlayfs' whiteout
    assert (upper / "a" / "new-dir").is_dir()
    assert (mnt / "multi").read_bytes() == (src / "multi").read_bytes()
    # the FUSE mount under the overlay still shows the flist as it was
    lower = tmp_path / "changes" / "lower"
    assert (lower / "small.txt").read_bytes() == b"hello flist\n"
    assert (lower / "secret").exists()
    assert not (lower / "new-file").exists()

    mount.stop()
    assert hashlib.sha256(flist.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in (tmp_path / "blocks").rglob("*") if p.is_file()) == blocks_before
    again = mounter(flist, name="again")
    assert _tree_facts(again.mountpoint) == _tree_facts(src)


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_signal_unmounts_cleanly(tmp_path: Path, mounter: Any, signame: str) -> None:
    src = make_tree(tmp_path / "src")
    flist = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    plain = mounter(flist, name="plain")
    rw = mounter(flist, "--rw", name="rw")
    for mount in (plain, rw):
        assert (mount.mountpoint / "small.txt").read_text() == "hello flist\n"
        mount.proc.send_signal(getattr(__import__("signal"), signame))
        assert mount.wait_gone() == 0
        assert not mount.mounted()
    assert not os.path.ismount(tmp_path / "rw.rw" / "lower")
    assert not os.path.ismount(tmp_path / "rw")


def test_umount_command_unmounts_and_ends_the_server(tmp_path: Path, mounter: Any) -> None:
    src = make_tree(tmp_path / "src")
    flist = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    for args, name in (((), "plain"), (("--rw",), "rw")):
        mount = mounter(flist, *args, name=name)
        out = _zos("flist", "umount", str(mount.mountpoint))
        assert out.returncode == 0, out.stderr
        assert mount.wait_gone() == 0
        assert not os.path.ismount(mount.mountpoint)
    out = _zos("flist", "umount", str(tmp_path / "plain"))
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [f"error: nothing is mounted at {tmp_path}/plain"]


def _zos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zeroos.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bad_mounts_fail_with_one_line(tmp_path: Path, mounter: Any) -> None:
    src = make_tree(tmp_path / "src")
    flist = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    (tmp_path / "mnt").mkdir()
    corrupt = tmp_path / "corrupt.fl"
    corrupt.write_bytes(flist.read_bytes()[:3000])
    out = _zos("flist", "mount", str(corrupt), str(tmp_path / "mnt"), "--cache", str(tmp_path))
    assert out.returncode == 1
    assert len(out.stderr.strip().splitlines()) == 1
    assert "error:" in out.stderr
    mounter(flist)
    out = _zos("flist", "mount", str(flist), str(tmp_path / "mnt"), "--cache", str(tmp_path))
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"error: something is already mounted at {tmp_path}/mnt"
    ]


def test_an_flist_whose_path_holds_a_comma_mounts(tmp_path: Path, mounter: Any) -> None:
    src = make_tree(tmp_path / "src")
    flist = build_flist(src, tmp_path / "a,b\\c.fl", f"dir://{tmp_path}/blocks")
    mount = mounter(flist)
    assert (mount.mountpoint / "small.txt").read_text() == "hello flist\n"
    entry = mounted_at(mount.mountpoint)
    assert entry is not None
    assert entry.source == str(flist)


def test_an_unusable_cache_folder_is_one_line(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    flist = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    (tmp_path / "mnt").mkdir()
    (tmp_path / "file").write_text("not a folder")
    out = _zos("flist", "mount", str(flist), str(tmp_path / "mnt"), "--cache", f"{tmp_path}/file/c")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"error: cannot use {tmp_path}/file/c as the block cache: Not a directory"
    ]
    assert not os.path.ismount(tmp_path / "mnt")


def test_daemon_mode_returns_once_mounted(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    src = make_tree(tmp_path / "src")
    flist = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    log = tmp_path / "server.log"
    try:
        args = ["--cache", str(tmp_path / "cache"), "--log", str(log)]
        out = _zos("flist", "mount", "-d", str(flist), str(mnt), *args)
        assert out.returncode == 0, out.stderr
        assert (mnt / "small.txt").read_text() == "hello flist\n"  # no waiting: it is there
        assert f"flist mount -d {flist}" in _processes()
        again = _zos("flist", "mount", "-d", str(flist), str(mnt), *args)
        assert again.returncode == 1
        assert again.stderr.splitlines() == [f"error: something is already mounted at {mnt}"]
        assert _zos("flist", "umount", str(mnt)).returncode == 0
        # the background server saw its mount go and exited
        deadline = time.monotonic() + 30
        while f"flist mount -d {flist}" in _processes():
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        while os.path.ismount(mnt):
            subprocess.run(["umount", "-l", str(mnt)], check=False)


def _processes() -> str:
    return subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout


def test_a_killed_server_leaves_mounts_that_umount_clears(tmp_path: Path, mounter: Any) -> None:
    src = make_tree(tmp_path / "src")
    flist = build_flist(src, tmp_path / "t.fl", f"dir://{tmp_path}/blocks")
    changes = tmp_path / "changes"
    mount = mounter(flist, "--rw", "--rw-dir", str(changes), name="rw")
    (mount.mountpoint / "kept").write_text("in the upper layer")
    mount.proc.kill()  # no chance to unmount anything
    mount.proc.wait()
    assert os.path.ismount(mount.mountpoint)
    assert os.path.ismount(changes / "lower")
    cmd = ["flist", "mount", "-d", str(flist), str(mount.mountpoint), "--rw"]
    out = _zos(*cmd, "--rw-dir", str(changes), "--cache", str(tmp_path / "cache"))
    assert out.returncode == 1
    assert out.stderr.splitlines() == [f"error: something is already mounted at {mount.mountpoint}"]
    out = _zos("flist", "umount", str(mount.mountpoint))
    assert out.returncode == 0, out.stderr
    assert not os.path.ismount(mount.mountpoint)
    assert not os.path.ismount(changes / "lower")
    again = mounter(flist, "--rw", "--rw-dir", str(changes), name="rw")
    assert (again.mountpoint / "kept").read_text() == "in the upper layer"
    assert (again.mountpoint / "small.txt").read_text() == "hello flist\n"
