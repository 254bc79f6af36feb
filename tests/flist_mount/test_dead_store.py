"""A store that dies under a mount: reads fail with EIO within the timeout, then recover."""

from __future__ import annotations

import errno
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from tests.zdb.conftest import ZdbProcess

from .conftest import BLOCK_SIZE, build_flist

TIMEOUT = 2.0


def _read_within(path: Path, seconds: float) -> bytes | OSError:
    """Read a file in a thread; the test fails if the read takes longer than `seconds`."""
    result: list[bytes | OSError] = []

    def run() -> None:
        try:
            result.append(path.read_bytes())
        except OSError as exc:
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert result, f"reading {path} took more than {seconds}s"
    return result[0]


def test_dead_zdb_gives_eio_then_reads_recover(
    tmp_path: Path, mounter: Any, zdb_store: ZdbProcess
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    content = {f"f{i}": os.urandom(3 * BLOCK_SIZE + i) for i in range(4)}
    for name, data in content.items():
        (src / name).write_bytes(data)
    flist = build_flist(src, tmp_path / "t.fl", f"zdb://127.0.0.1:{zdb_store.port}")
    mount = mounter(flist, "--timeout", str(TIMEOUT))
    mnt = mount.mountpoint
    assert (mnt / "f0").read_bytes() == content["f0"]

    zdb_store.kill()
    started = time.monotonic()
    failed = _read_within(mnt / "f1", TIMEOUT + 30)
    assert isinstance(failed, OSError), failed
    assert failed.errno == errno.EIO, failed
    assert time.monotonic() - started < TIMEOUT + 30
    # listing, stat and cached content do not need the store
    assert sorted(os.listdir(mnt)) == sorted(content)
    assert os.stat(mnt / "f2").st_size == len(content["f2"])
    assert (mnt / "f0").read_bytes() == content["f0"]

    zdb_store.start()  # same port, same data
    deadline = time.monotonic() + 60
    while True:
        got = _read_within(mnt / "f1", TIMEOUT + 30)
        if got == content["f1"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert got == content["f1"]
    for name in ("f2", "f3"):
        assert (mnt / name).read_bytes() == content[name]
    assert "event=read_failed" in mount.output()  # the failure was logged, once per read


def test_a_frozen_zdb_fails_reads_after_the_timeout_not_never(
    tmp_path: Path, mounter: Any, zdb_store: ZdbProcess
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    content = {f"f{i}": os.urandom(2 * BLOCK_SIZE + i) for i in range(3)}
    for name, data in content.items():
        (src / name).write_bytes(data)
    flist = build_flist(src, tmp_path / "t.fl", f"zdb://127.0.0.1:{zdb_store.port}")
    mount = mounter(flist, "--timeout", str(TIMEOUT))
    assert zdb_store.proc is not None
    zdb_store.proc.send_signal(signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        started = time.monotonic()
        failed = _read_within(mount.mountpoint / "f1", TIMEOUT + 30)
        took = time.monotonic() - started
        assert isinstance(failed, OSError), failed
        assert failed.errno == errno.EIO, failed
        assert took >= TIMEOUT * 0.9  # it waited for the store, as long as it was told to
    finally:
        zdb_store.proc.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 60
    while (got := _read_within(mount.mountpoint / "f1", TIMEOUT + 30)) != content["f1"]:
        assert time.monotonic() < deadline, got
        time.sleep(0.2)
    assert (mount.mountpoint / "f2").read_bytes() == content["f2"]
