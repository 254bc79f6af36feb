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


def _value(i: int) -> bytes:
    return (b"%06d" % i) * 20_000  # 120 kB


def _read_all(conn: RawConn, acked: dict[bytes, bytes]) -> None:
    for key, value in acked.items():
        assert conn.call("GET", key) == value, key


def test_a_full_disk_answers_an_error_keeps_reads_and_loses_nothing(small_disk, zdb_factory):
    # the data and index folders on the small disk; the server's log beside it, not on it
    root = small_disk.parent / "server"
    root.mkdir()
    for part in ("data", "index"):
        (small_disk / part).mkdir()
        (root / part).symlink_to(small_disk / part)
    server = zdb_factory("--datasize", "1M", root=root)
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
