"""A real full disk under a running server: a small tmpfs mounted for the test (as root).

The promise: a write that finds no space is answered with an error line, reads go on, nothing
acknowledged is lost (not even across a restart on the full disk), and writes work again as
soon as there is space.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from zeroos.common.harness import HarnessError

from .rawsock import RawConn, is_error

pytestmark = pytest.mark.embedded_only  # the embedded engine's files on a small disk


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, timeout=60, capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs, unmounted (and gone) at the end of the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    _mount("-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mnt))
    try:
        yield mnt
    finally:
        out = subprocess.run(["umount", str(mnt)], timeout=60, capture_output=True)
        if out.returncode != 0:  # still busy (a test failed with the server running)
            subprocess.run(["umount", "-l", str(mnt)], check=True, timeout=60)


def server_root(disk: Path) -> Path:
    """A server folder whose data and index folders are on the disk (its log is not)."""
    root = disk.parent / "server"
    root.mkdir()
    for part in ("data", "index"):
        (disk / part).mkdir()
        (root / part).symlink_to(disk / part)
    return root


def _value(i: int) -> bytes:
    return (b"%06d" % i) * 20_000  # 120 kB


def _read_all(conn: RawConn, acked: dict[bytes, bytes]) -> None:
    for key, value in acked.items():
        assert conn.call("GET", key) == value, key


def test_a_full_disk_answers_an_error_keeps_reads_and_loses_nothing(small_disk, zdb_factory):
    server = zdb_factory("--datasize", "1M", root=server_root(small_disk))
    acked: dict[bytes, bytes] = {}
    errors: list[object] = []
    with RawConn(server.port) as conn:
        i = 0
        while len(errors) < 5:
            assert i < 1000, "24 MiB should be full long before 1,000 values of 120 kB"
            key = b"k%05d" % i
            reply = conn.call("SET", key, _value(i))
            if is_error(reply):
                errors.append(reply)
            else:
                assert reply == key
                acked[key] = _value(i)
            i += 1
        assert len(acked) > 20, "most of the disk should have been used"
        for reply in errors:
            assert is_error(reply, "Internal Error"), reply
            assert "No space left on device" in str(reply), reply
        # the server goes on: reads, and writes that need no space
        assert conn.call("PING") == b"PONG"
        _read_all(conn, acked)
        assert conn.call("DBSIZE") == len(acked)
        assert conn.call("EXISTS", b"k%05d" % (i - 1)) == 0
    # a restart on the disk that is still full keeps everything acknowledged
    server.restart()
    with RawConn(server.port) as conn:
        _read_all(conn, acked)
        assert conn.call("DBSIZE") == len(acked)
    # space comes back: writes work again, and survive a restart
    _mount("-o", "remount,size=64m", str(small_disk))
    with RawConn(server.port) as conn:
        for j in range(i, i + 40):
            key = b"k%05d" % j
            assert conn.call("SET", key, _value(j)) == key
            acked[key] = _value(j)
    server.restart()
    with RawConn(server.port) as conn:
        _read_all(conn, acked)
        assert conn.call("DBSIZE") == len(acked)
    server.stop()


def _fill_up(folder: Path) -> Path:
    """Take every free byte of the disk of ``folder`` with one file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):  # smaller and smaller: the last bytes too
            try:
                while os.write(fd, b"\xff" * size) == size:
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_a_torn_tail_is_not_cut_when_there_is_no_room_to_keep_it(small_disk, zdb_factory):
    server = zdb_factory("--datasize", "1M", root=server_root(small_disk))
    model = {b"k%02d" % i: _value(i)[:5000] for i in range(20)}
    with RawConn(server.port) as conn:
        for key, value in model.items():
            assert conn.call("SET", key, value) == key
    # stopped cleanly, so that no file has space reserved ahead that opening gives back
    assert server.stop() == 0
    dpath = small_disk / "data" / "default" / "zdb-data-00000"
    with open(dpath, "ab") as fh:  # then a torn write at the end of the data
        fh.write(b"half an entry" * 100)
    before = dpath.read_bytes()
    filler = _fill_up(small_disk)
    with pytest.raises(HarnessError, match="No space left on device"):
        server.start(timeout=60)
    assert dpath.read_bytes() == before  # nothing was cut: there was no room to keep it
    assert not [p for p in dpath.parent.iterdir() if p.name.startswith("cut-")]
    filler.unlink()
    server.start(timeout=60)
    with RawConn(server.port) as conn:
        _read_all(conn, model)
    (kept,) = [p for p in dpath.parent.iterdir() if p.name.startswith("cut-")]
    assert kept.read_bytes() == b"half an entry" * 100
    server.stop()
