"""One zero-id per namespace: `zos id serve` processes on a shared real zero-db, and their lease."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from zeroos.common.harness import Child, zos_serve
from zeroos.identity.lease import LEASE_KEY, Lease, LeaseHeld, LeaseRecord
from zeroos.identity.server import EmbeddedZdb
from zeroos.zdb.client import Client

_names = itertools.count()


class Serve:
    """A `zos id serve --zdb ...` process with its log file."""

    def __init__(self, zdb: EmbeddedZdb, namespace: str, log: Path, **env: str) -> None:
        self.log = log
        self.offset = log.stat().st_size if log.exists() else 0
        argv = zos_serve("id", "--port", "0", "--zdb", f"127.0.0.1:{zdb.port}/{namespace}",
                         "--data", str(log.parent / "data"),
                         "--argon2-memory", "8192", "--argon2-time", "1")  # fmt: skip
        env = {
            **os.environ,
            "ZOS_ID_ZDB_ADMIN": zdb.admin,
            "ZOS_ID_ZDB_PASSWORD": zdb.password,
            **env,
        }
        self.child = Child(argv, log.with_suffix(".ready"), env=env, log=log, name="zero-id")
        self.proc = self.child.spawn().proc
        assert self.proc is not None

    def text(self) -> str:
        return self.log.read_bytes()[self.offset :].decode(errors="replace")

    def wait_listening(self) -> str:
        return "http://" + self.child.wait_ready(30).addresses[0]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def namespace(zdb: EmbeddedZdb) -> str:
    return f"leasens{next(_names)}"


@pytest.fixture
def client(zdb: EmbeddedZdb, namespace: str) -> Iterator[Client]:
    client = zdb.client(namespace)
    yield client
    client.close()


def _lease(client: Client) -> LeaseRecord | None:
    raw = client.get(LEASE_KEY)
    return None if raw is None else LeaseRecord.decode(raw)


def _now(client: Client) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1e6


def _refused(zdb: EmbeddedZdb, namespace: str, tmp_path: Path) -> str:
    """Start a second zero-id on ``namespace``: it must refuse with one line; that line."""
    second = Serve(zdb, namespace, tmp_path / "second.log")
    code = second.proc.wait(timeout=30)
    lines = second.text().splitlines()
    assert code != 0, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert "another namespace" in lines[0]
    return lines[0]


def test_second_refused_while_first_runs_then_free_after_clean_stop(
    zdb: EmbeddedZdb, namespace: str, client: Client, tmp_path: Path
) -> None:
    timing = {"ZOS_ID_LEASE_SECONDS": "3", "ZOS_ID_LEASE_RENEW": "0.3"}
    first = Serve(zdb, namespace, tmp_path / "first.log", **timing)
    try:
        url = first.wait_listening()
        line = _refused(zdb, namespace, tmp_path)
        assert f"pid {first.proc.pid} on host " in line
        assert repr(namespace) in line
        # past the expiry first written (on zero-db's clock), renewals have kept the lease
        taken = _lease(client)
        assert taken is not None
        _poll(lambda: _now(client) > taken.expires + 0.5, "zero-db's clock passed the expiry")
        renewed = _lease(client)
        assert renewed is not None
        assert (renewed.owner, renewed.expires > taken.expires) == (taken.owner, True)
        assert f"pid {first.proc.pid} " in _refused(zdb, namespace, tmp_path)
        assert httpx.get(url + "/.well-known/jwks.json", timeout=10).status_code == 200
    finally:
        assert first.stop() == 0
    assert _lease(client) is None  # deleted on a clean stop
    assert "Traceback" not in first.text()
    third = Serve(zdb, namespace, tmp_path / "third.log")
    try:
        third.wait_listening()
        record = _lease(client)
        assert record is not None
        assert record.pid == third.proc.pid
    finally:
        assert third.stop() == 0


def test_killed_holder_on_this_host_is_replaced_at_once(
    zdb: EmbeddedZdb, namespace: str, client: Client, tmp_path: Path
) -> None:
    timing = {"ZOS_ID_LEASE_SECONDS": "120"}  # an expiry far away: only the dead pid frees it
    first = Serve(zdb, namespace, tmp_path / "first.log", **timing)
    first.wait_listening()
    first.proc.kill()
    first.proc.wait(timeout=10)
    record = _lease(client)
    assert record is not None
    assert record.pid == first.proc.pid
    assert record.expires - _now(client) > 60
    second = Serve(zdb, namespace, tmp_path / "second.log", **timing)
    try:
        second.wait_listening()
        assert "event=lease_taken" in second.text()
        assert "reason=holder_dead" in second.text()
    finally:
        assert second.stop() == 0


def test_lease_of_another_host_expired_or_live(
    zdb: EmbeddedZdb, namespace: str, client: Client, tmp_path: Path
) -> None:
    set_at = _now(client)
    other = LeaseRecord("elsewhere.example:1:abc", set_at + 60)
    client.set(LEASE_KEY, other.encode())
    line = _refused(zdb, namespace, tmp_path)
    elapsed = _now(client) - set_at  # the refusal's start may take long on a loaded machine
    assert "pid 1 on host elsewhere.example" in line
    match = re.search(r"lease ends in (\d+) s", line)
    assert match, line
    assert 60 - elapsed - 1 <= int(match.group(1)) <= 60, (line, elapsed)
    client.set(LEASE_KEY, LeaseRecord(other.owner, _now(client) - 1).encode())  # expired
    serve = Serve(zdb, namespace, tmp_path / "serve.log")
    try:
        serve.wait_listening()
        assert "reason=expired" in serve.text()
    finally:
        assert serve.stop() == 0


def test_server_whose_lease_was_taken_stops(
    zdb: EmbeddedZdb, namespace: str, client: Client, tmp_path: Path
) -> None:
    timing = {"ZOS_ID_LEASE_SECONDS": "3", "ZOS_ID_LEASE_RENEW": "0.2"}
    serve = Serve(zdb, namespace, tmp_path / "serve.log", **timing)
    try:
        serve.wait_listening()
        other = LeaseRecord("elsewhere.example:7:xyz", _now(client) + 60)
        client.set(LEASE_KEY, other.encode())
        code = serve.proc.wait(timeout=15)
    finally:
        serve.stop()
    assert code != 0
    text = serve.text()
    errors = [line for line in text.splitlines() if "level=error" in line]
    assert len(errors) == 1, text
    assert "event=lease_lost" in errors[0]
    assert "pid 7 on host elsewhere.example" in errors[0]
    assert "event=stopped" in text
    assert "Traceback" not in text
    left = _lease(client)  # not deleted, not renewed: it is not ours
    assert left is not None
    assert left.owner == other.owner
    assert left.expires == pytest.approx(other.expires, abs=0.01)


def test_simultaneous_start_loses_to_the_last_writer(client: Client) -> None:
    """The confirmation read: a lease written during the pause wins; this start refuses."""
    lease = Lease(client, seconds=10, confirm_after=5)
    other = Lease(client, seconds=10, confirm_after=0)

    def racer() -> None:
        # a racing start that read before our write (and so saw no lease) writes its own
        # once ours is there, during our pause
        _poll(lambda: (r := _lease(client)) is not None and r.owner == lease.owner, "written")
        client.set(LEASE_KEY, _record(other, client))

    thread = threading.Thread(target=racer)
    thread.start()
    with pytest.raises(LeaseHeld, match="in use by another zero-id"):
        lease.acquire()
    thread.join()
    assert not lease.held
    record = _lease(client)
    assert record is not None
    assert record.owner == other.owner
    lease.release()  # not ours: left alone
    assert _lease(client) == record


def _poll(ready: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait until ``ready()`` (checked every 50 ms), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout} s")
        time.sleep(0.05)


def _record(lease: Lease, client: Client) -> bytes:
    return LeaseRecord(lease.owner, _now(client) + 10, lease.pidns).encode()


def test_bad_lease_timings_are_one_line(zdb: EmbeddedZdb, namespace: str, tmp_path: Path) -> None:
    serve = Serve(
        zdb, namespace, tmp_path / "serve.log", ZOS_ID_LEASE_SECONDS="2", ZOS_ID_LEASE_RENEW="5"
    )
    assert serve.proc.wait(timeout=30) != 0
    lines = serve.text().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: lease: renewals every 5 s")


def test_lease_record_json(client: Client) -> None:
    lease = Lease(client, seconds=5, confirm_after=0).acquire()
    try:
        data = json.loads(client.get(LEASE_KEY) or b"")
        assert data["owner"] == lease.owner
        assert data["owner"].split(":")[1] == str(os.getpid())
        assert 4 < data["expires"] - _now(client) <= 5
        assert lease.renew()
    finally:
        lease.release()
    assert client.get(LEASE_KEY) is None


def test_zdb_namespace_password_from_a_file(
    zdb: EmbeddedZdb, namespace: str, client: Client, tmp_path: Path
) -> None:
    """--zdb-password-file: the right password opens the namespace, a wrong one is one line."""
    argv = zos_serve("id", "--port", "0", "--zdb", f"127.0.0.1:{zdb.port}/{namespace}",
                     "--data", str(tmp_path / "data"),
                     "--argon2-memory", "8192", "--argon2-time", "1")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "ZOS_ID_ZDB_PASSWORD"}
    env["ZOS_ID_ZDB_ADMIN"] = zdb.admin
    secret = tmp_path / "zdb-password"
    secret.write_text("wrong\n")
    r = subprocess.run(
        [*argv, "--zdb-password-file", str(secret)], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert r.returncode == 1
    assert r.stderr == f"error: zero-db namespace '{namespace}': Access denied\n"
    secret.write_text(zdb.password + "\n")
    argv = [*argv, "--zdb-password-file", str(secret)]
    child = Child(argv, tmp_path / "ready", env=env, log=tmp_path / "serve.log", name="zero-id")
    child.start(30)
    try:
        assert _lease(client) is not None  # it got in, and holds the namespace
    finally:
        assert child.stop(timeout=30) == 0
    assert "zdb_namespace_open" not in (tmp_path / "serve.log").read_text()


def test_admin_without_password_is_one_error_and_a_hint(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ZOS_ID_ADMIN_PASSWORD"}
    argv = zos_serve("id", "--port", "0", "--data", str(tmp_path / "d"), "--admin", "root")
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr == "error: --admin needs a password\nhint: set $ZOS_ID_ADMIN_PASSWORD\n"
