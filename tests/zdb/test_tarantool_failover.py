"""Copies that survive losing a server: zero-db on a 3-member Tarantool replica set.

Real Tarantool processes (started through `zos zdb tarantool start`'s code) and a real
`zos zdb serve --engine tarantool`; the leader is killed with SIGKILL mid-writes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import tarantool

from zeroos.common.harness import HarnessError
from zeroos.testing import free_port
from zeroos.zdb.chain.verify import verify_online
from zeroos.zdb.client import Client
from zeroos.zdb.tarantool.auth import PASSWORD_ENV
from zeroos.zdb.tarantool.instance import Instance, start

from .conftest import ZdbProcess
from .tarantool_util import needs_tarantool, replica_set, shared_tarantool, start_instance

pytestmark = needs_tarantool


def _server(root: Path, addresses: str) -> ZdbProcess:
    return ZdbProcess(
        root, "--engine", "tarantool", "--tarantool", addresses, "--tarantool-timeout", "8"
    ).start(timeout=60)


def test_killing_the_leader_loses_no_acknowledged_write(tmp_path: Path) -> None:
    members = replica_set(tmp_path)
    addresses = ",".join(m.address for m in members)
    zdb = _server(tmp_path / "zdb", addresses)
    acked: dict[bytes, bytes] = {}
    errors: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        conn = redis.Redis(port=zdb.port, socket_timeout=30)
        conn.set_response_callback("SET", lambda r, **kw: r)
        i = 0
        while not stop.is_set():
            key, value = b"key-%06d" % i, b"value-%06d" % i * 3
            try:
                if conn.execute_command("SET", key, value) == key:
                    acked[key] = value
            except redis.RedisError as exc:
                errors.append(str(exc))
                time.sleep(0.05)
            i += 1

    try:
        thread = threading.Thread(target=writer)
        thread.start()
        deadline = time.monotonic() + 60
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.02)
        before = len(acked)
        assert before >= 300, errors[:3]
        members[0].kill()  # kill -9 the leader mid-writes
        deadline = time.monotonic() + 90
        while len(acked) < before + 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        thread.join(timeout=60)
        assert len(acked) >= before + 300, f"writes did not resume: {errors[-3:]}"
        assert "event=tarantool_promote" in zdb.log.read_text()  # zero-db failed over
        # every error a client saw was one clear line, and zero-db kept serving
        assert all("tarantool" in e for e in errors), errors[:3]
        check = redis.Redis(port=zdb.port, socket_timeout=30)
        assert check.mget(list(acked)) == list(acked.values())
        verify_online(Client(port=zdb.port))
        # a new zero-db (nothing cached) finds the same data and chain on the survivors
        zdb.stop()
        zdb = _server(tmp_path / "zdb", addresses)
        check = redis.Redis(port=zdb.port, socket_timeout=30)
        check.set_response_callback("SET", lambda r, **kw: r)
        assert check.mget(list(acked)) == list(acked.values())
        report = verify_online(Client(port=zdb.port))
        assert report.live_keys >= len(acked)
        # a second member lost: no quorum; the client gets one error line, not a hang
        for member in members[1:]:
            if member.alive():
                member.kill()
                break
        t0 = time.monotonic()
        with pytest.raises(redis.ResponseError, match=r"tarantool: .*(quorum|unreachable)"):
            check.set(b"after", b"no quorum")
        assert time.monotonic() - t0 < 25
    finally:
        stop.set()
        zdb.stop()
        for member in members:
            member.stop()
    # the members replicate as zdb, with its password in their configuration: not in a log
    password = members[0].credentials().password
    for log in [zdb.log, *(m.dir / "tarantool.log" for m in members)]:
        assert password not in log.read_text(errors="replace"), log


def _try_set(conn: redis.Redis, key: bytes, value: bytes) -> object:
    """SET's answer, or the error it met."""
    try:
        return conn.set(key, value)
    except redis.ResponseError as exc:
        return exc


def test_tarantool_down_is_one_error_line_then_recovers(tmp_path: Path) -> None:
    port = free_port()
    instance = start_instance(tmp_path / "tt", port)
    zdb = _server(tmp_path / "zdb", instance.address)
    try:
        conn = redis.Redis(port=zdb.port, socket_timeout=30)
        conn.set_response_callback("SET", lambda r, **kw: r)
        assert conn.set(b"k", b"v") == b"k"
        instance.kill()
        with pytest.raises(redis.ResponseError, match=r"^Internal Error: tarantool: "):
            conn.set(b"k2", b"v2")
        assert conn.ping()  # the server keeps serving
        # the connector's own NetworkWarning came through zero-db's logger, as an event
        log = zdb.log.read_text()
        assert "event=warning category=NetworkWarning" in log, log
        assert all(line.startswith("ts=") for line in log.splitlines()), log
        instance = start_instance(tmp_path / "tt", port)
        # back: the next calls reconnect (a probe may still time out on a loaded machine,
        # each such answer the same one line, so poll with a deadline)
        deadline = time.monotonic() + 30
        answer = _try_set(conn, b"k2", b"v2")
        while answer != b"k2" and time.monotonic() < deadline:
            assert str(answer).startswith("Internal Error: tarantool: "), answer
            time.sleep(0.2)
            answer = _try_set(conn, b"k2", b"v2")
        assert answer == b"k2", answer
        assert conn.get(b"k") == b"v"
        assert conn.get(b"k2") == b"v2"
    finally:
        zdb.stop()
        instance.stop()


def test_tarantool_start_cli_and_migrate_both_ways(tmp_path: Path) -> None:
    port = free_port()
    zos = [sys.executable, "-m", "zeroos.cli.main", "zdb"]
    out = subprocess.run(
        [*zos, "tarantool", "start", "--dir", str(tmp_path / "tt"), "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert f"127.0.0.1:{port}" in out.stdout
    try:
        # an embedded server with data, history and a chain
        emb = ZdbProcess(tmp_path / "emb").start()
        conn = emb.client()
        for i in range(50):
            conn.set(b"k%d" % i, b"v%d" % i)
        conn.set(b"k1", b"again")
        conn.delete(b"k2")
        conn.execute_command("NSNEW", "other")
        emb.stop()
        secret = str(tmp_path / "tt" / "zdb-tarantool.secret")  # made by `tarantool start`
        url = f"tarantool://127.0.0.1:{port}/moved"
        out = subprocess.run(
            [
                *zos,
                "migrate",
                "--from",
                str(tmp_path / "emb"),
                "--to",
                url,
                "--tarantool-password-file",
                secret,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        # two namespaces, each written then reopened: the leader is still announced once
        assert out.stderr.count(f"event=tarantool_leader member=127.0.0.1:{port}") == 1, out
        tt = ZdbProcess(
            tmp_path / "emb",
            "--engine",
            "tarantool",
            "--tarantool",
            f"127.0.0.1:{port}",
            "--tarantool-db",
            "moved",
            "--tarantool-password-file",
            secret,
        ).start()
        conn = tt.client()
        assert conn.get(b"k1") == b"again"
        assert conn.get(b"k2") is None
        assert conn.dbsize() == 49
        report = verify_online(Client(port=tt.port))
        assert report.live_keys == 49
        conn.set(b"new", b"on tarantool")
        tt.stop()
        # and back into a fresh folder
        subprocess.run(
            [
                *zos,
                "migrate",
                "--from",
                url,
                "--to",
                str(tmp_path / "back"),
                "--key-dir",
                str(tmp_path / "emb" / "index"),
                "--tarantool-password-file",
                secret,
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
        back = ZdbProcess(tmp_path / "back").start()
        assert back.client().get(b"new") == b"on tarantool"
        assert back.client().dbsize() == 50
        verify_online(Client(port=back.port))
        back.stop()
    finally:
        subprocess.run(
            [*zos, "tarantool", "stop", "--dir", str(tmp_path / "tt")], timeout=60, check=False
        )


ZOS_SERVE = [sys.executable, "-m", "zeroos.cli.main", "zdb", "serve", "--port", "0"]


def _serve_fails(root: Path, *args: str) -> str:
    """Run `zos zdb serve` expecting it to stop at once; its output."""
    out = subprocess.run(
        [*ZOS_SERVE, "--index", str(root / "index"), "--engine", "tarantool", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0, out
    text = out.stdout + out.stderr
    assert "Traceback" not in text, text
    return text


def test_guest_and_wrong_passwords_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    instance = start(tmp_path / "tt", free_port())  # its own random password, made at start
    try:
        assert instance.secret.stat().st_mode & 0o777 == 0o600
        password = instance.credentials().password
        guest = tarantool.Connection(instance.host, instance.port, fetch_schema=False)
        try:
            with pytest.raises(tarantool.error.DatabaseError, match="denied for user 'guest'"):
                guest.call("zdb_status")
            with pytest.raises(tarantool.error.DatabaseError, match="denied"):
                guest.eval("return box.space.zdb_ns:select()")
        finally:
            guest.close()
        text = _serve_fails(tmp_path, "--tarantool", instance.address)
        lines = [line for line in text.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, text
        assert "refused zero-db" in lines[0], text
        assert "--tarantool-password-file" in lines[0], text
        wrong = f"zdb:not-{password}@{instance.address}"
        text = _serve_fails(tmp_path, "--tarantool", wrong)
        assert "Incorrect password" in text, text
        assert password not in text, text
        # the password before the address, then in the environment
        for args in (
            ["--tarantool", f"zdb:{password}@{instance.address}"],
            ["--tarantool", instance.address],
        ):
            zdb = ZdbProcess(tmp_path / "zdb", "--engine", "tarantool", *args).start()
            monkeypatch.setenv(PASSWORD_ENV, password)
            try:
                conn = zdb.client()
                conn.set(b"k", b"v")
                assert conn.get(b"k") == b"v"
            finally:
                zdb.stop()
            assert password not in zdb.log.read_text(errors="replace")
    finally:
        instance.stop()


def test_second_server_on_one_database_is_refused(tmp_path: Path) -> None:
    first = ZdbProcess(tmp_path / "db", engine="tarantool").start()
    try:
        second = ZdbProcess(tmp_path / "db", engine="tarantool")
        t0 = time.monotonic()
        with pytest.raises(HarnessError, match="exited with 1") as info:
            second.start()
        assert time.monotonic() - t0 < 15
        lines = [line for line in str(info.value).splitlines() if line.startswith("error:")]
        assert len(lines) == 1, info.value
        assert "is in use by another zero-db" in lines[0], lines
        assert "stop it, or serve another --tarantool-db" in lines[0], lines
        # a server killed with -9 leaves its lease: a new one on this host takes it at once
        first.kill()
        first.start()
        first.client().set(b"k", b"v")
        # a server whose lease was taken (it could not renew it in time) stops writing
        admin = _admin(shared_tarantool())
        try:
            admin.eval(
                "box.space.zdb_lease:replace{...,'elsewhere:1:x',require('fiber').time()+60}",
                [str(tmp_path / "db")],
            )
            with pytest.raises(redis.ResponseError, match=r"tarantool: lease lost: another"):
                first.client().set(b"k2", b"v2")
            admin.eval("box.space.zdb_lease:delete{...}", [str(tmp_path / "db")])
        finally:
            admin.close()
    finally:
        first.stop()
    # a clean stop releases it
    again = ZdbProcess(tmp_path / "db", engine="tarantool").start()
    assert again.client().get(b"k") == b"v"
    again.stop()


def _admin(member: Instance) -> tarantool.Connection:
    creds = member.credentials()
    return tarantool.Connection(
        member.host,
        member.port,
        user=creds.user,
        password=creds.password,
        socket_timeout=10,
        fetch_schema=False,
    )


def test_read_only_replica_is_one_error_line(tmp_path: Path) -> None:
    leader, replica = replica_set(tmp_path, size=2)
    zdb = _server(tmp_path / "zdb", leader.address)  # the replica is not named
    try:
        conn = redis.Redis(port=zdb.port, socket_timeout=30)
        conn.set_response_callback("SET", lambda r, **kw: r)
        assert conn.set(b"k", b"v") == b"k"
        # a switchover zero-db is not told about: the old leader now replicates the new one
        new, old = _admin(replica), _admin(leader)
        try:
            new.eval("box.cfg{read_only = false, replication = {}}")
            old.eval("box.cfg{read_only = true}")
            old.call("zdb_follow", replica.address)
            deadline = time.monotonic() + 60
            while not old.call("zdb_status").data[0][4] and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            new.close()
            old.close()
        t0 = time.monotonic()
        with pytest.raises(redis.ResponseError) as info:
            conn.set(b"k2", b"v2")
        assert time.monotonic() - t0 < 15
        assert str(info.value) == (
            f"Internal Error: tarantool: {leader.address} is a read-only replica of "
            f"{replica.address}, which is not among {leader.address}: name the leader in "
            "--tarantool"
        )
        assert conn.ping()  # the server keeps serving, and every command gets the line at once
        t0 = time.monotonic()
        with pytest.raises(redis.ResponseError, match="is a read-only replica of"):
            conn.get(b"k")
        assert time.monotonic() - t0 < 15
    finally:
        zdb.stop()
        leader.stop()
        replica.stop()


def test_every_call_is_bounded_by_the_timeout(tmp_path: Path) -> None:
    # a frozen instance (SIGSTOP) accepts connections but never answers: one error line
    instance = start_instance(tmp_path / "tt", free_port())
    zdb = ZdbProcess(
        tmp_path / "zdb",
        "--engine",
        "tarantool",
        "--tarantool",
        instance.address,
        "--tarantool-timeout",
        "1",
    ).start(timeout=60)
    try:
        conn = redis.Redis(port=zdb.port, socket_timeout=30)
        conn.set_response_callback("SET", lambda r, **kw: r)
        assert conn.set(b"k", b"v") == b"k"
        os.kill(instance.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            with pytest.raises(redis.ResponseError, match=r"^Internal Error: tarantool: "):
                conn.set(b"k2", b"v2")
            assert time.monotonic() - t0 < 10
        finally:
            os.kill(instance.pid, signal.SIGCONT)
        assert conn.set(b"k3", b"v3") == b"k3"
        assert conn.get(b"k3") == b"v3"
    finally:
        zdb.stop()
        instance.stop()


def test_no_quorum_is_refused_and_its_outcome_unknown(tmp_path: Path) -> None:
    # the quorum wait is what stands between a write and its acknowledgement: with both
    # replicas frozen (SIGSTOP) the leader alone holds it, which must not be answered OK
    members = replica_set(tmp_path)
    zdb = ZdbProcess(
        tmp_path / "zdb",
        *("--engine", "tarantool", "--tarantool", members[0].address),
        *("--tarantool-timeout", "30"),
    ).start(timeout=60)
    try:
        conn = redis.Redis(port=zdb.port, socket_timeout=60)
        conn.set_response_callback("SET", lambda r, **kw: r)
        assert conn.set(b"before", b"1") == b"before"
        for member in members[1:]:
            os.kill(member.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            with pytest.raises(redis.ResponseError) as info:
                conn.set(b"during", b"2")
            assert time.monotonic() - t0 >= 4.5  # it waited (5 s) for copies that never came
            assert str(info.value) == (
                "Internal Error: tarantool: no quorum: the write reached 1 of the 2 copies it "
                "needs in 5s; its outcome is unknown: the leader keeps it and the replicas get "
                "it when they are back, unless the leader is lost first"
            )
            assert conn.ping()
        finally:
            for member in members[1:]:
                os.kill(member.pid, signal.SIGCONT)
        # the replicas catch up: the write that got no quorum is there, as the line said
        deadline = time.monotonic() + 60
        while True:
            try:
                assert conn.set(b"after", b"3") == b"after"
                break
            except redis.ResponseError:
                if time.monotonic() > deadline:
                    raise
        assert conn.mget([b"before", b"during", b"after"]) == [b"1", b"2", b"3"]
    finally:
        zdb.stop()
        for member in members:
            member.stop()
