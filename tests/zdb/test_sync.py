"""`--sync` and `--synctime` seen from outside: the fsyncs the server process makes (strace).

kill -9 cannot tell a server that fsyncs from one that does not (the page cache survives it),
so the server is traced: with `--sync` the data file is fsynced between a write and its reply,
with `--synctime N` every N seconds while writes come in, and by default not at all.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from zeroos.zdb.embedded.format import data_name

from .rawsock import RawConn

pytestmark = pytest.mark.embedded_only  # which files are fsynced is the embedded engine's

# one traced call: "PID HH:MM:SS.ffffff name(fd<path>, ..." (strace -f -tt -y)
_CALL = re.compile(r"^\d+\s+(\d+):(\d+):(\d+\.\d+) (\w+)\((\d+)<([^>]*)>(.*)$")
_SYNCS = ("fsync", "fdatasync", "msync")


def _need_strace() -> None:
    if shutil.which("strace") is None:
        if os.environ.get("CI"):  # scripts/test.sh installs it: the test must run there
            pytest.fail("strace is not installed (scripts/test.sh installs it)")
        pytest.skip("strace is not installed")


@contextmanager
def traced(pid: int, out: Path) -> Iterator[None]:
    """strace every thread of a running process while the block runs."""
    _need_strace()
    log = out.with_suffix(".stderr")
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [
                "strace",
                "-f",
                "-tt",
                "-y",
                "-s",
                "64",
                "-e",
                "trace=fsync,fdatasync,msync,write,writev,sendto,sendmsg",
                "-o",
                str(out),
                "-p",
                str(pid),
            ],
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 30
        while b"attached" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"strace did not attach: {log.read_text()}")
            time.sleep(0.05)
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # detaches, the server runs on
        proc.wait(timeout=30)


def calls(trace: Path) -> list[tuple[float, str, str, str]]:
    """(time, call, fd path, rest of the line) of every complete traced call."""
    out = []
    for line in trace.read_text(errors="replace").splitlines():
        match = _CALL.match(line)
        if match and "<unfinished" not in line:
            h, m, s, name, _fd, path, rest = match.groups()
            out.append((int(h) * 3600 + int(m) * 60 + float(s), name, path, rest))
    return out


def _reply_sent(call: tuple[float, str, str, str], key: bytes) -> bool:
    return call[1] not in _SYNCS and call[2].startswith("socket:") and key.decode() in call[3]


def _syncs_between_writes_and_replies(server, tmp_path: Path, count: int) -> list[int]:
    """For each of `count` SETs, one at a time: the fsyncs of the data file before its reply."""
    datafile = str(server.datadir / "default" / data_name(0))
    trace = tmp_path / "trace"
    with RawConn(server.port) as conn:
        assert conn.call("SET", b"warm-up", b"x") == b"warm-up"  # the files exist
        with traced(server.child.pid, trace):
            for i in range(count):
                key = b"synced-%03d" % i
                assert conn.call("SET", key, b"value %d" % i) == key
    seen = calls(trace)
    found = []
    start = 0
    for i in range(count):
        key = b"synced-%03d" % i
        at = next(j for j in range(start, len(seen)) if _reply_sent(seen[j], key))
        found.append(sum(1 for c in seen[start:at] if c[1] in _SYNCS and c[2] == datafile))
        start = at + 1
    return found


def test_sync_fsyncs_the_data_before_every_reply(zdb_factory, tmp_path):
    server = zdb_factory("--sync")
    assert all(n >= 1 for n in _syncs_between_writes_and_replies(server, tmp_path, 8))


def test_without_sync_no_reply_waits_for_an_fsync(zdb_factory, tmp_path):
    # the control: the trace tells the two modes apart
    server = zdb_factory()
    assert _syncs_between_writes_and_replies(server, tmp_path, 8) == [0] * 8


def test_synctime_fsyncs_every_n_seconds_while_writes_come_in(zdb_factory, tmp_path):
    server = zdb_factory("--synctime", "0.5")
    datafile = str(server.datadir / "default" / data_name(0))
    trace = tmp_path / "trace"
    with RawConn(server.port) as conn, traced(server.child.pid, trace):
        began = time.monotonic()
        i = 0
        while time.monotonic() - began < 3.0:
            key = b"k%04d" % i
            assert conn.call("SET", key, b"value") == key
            i += 1
            time.sleep(0.02)
    synced = [c[0] for c in calls(trace) if c[1] in _SYNCS and c[2] == datafile]
    # about six in three seconds (fewer when the machine is loaded), and never closer
    # together than the period (so never one per write: a write comes every 20 ms)
    assert len(synced) >= 3, synced
    gaps = [b - a for a, b in itertools.pairwise(synced)]
    assert min(gaps) >= 0.45, gaps
