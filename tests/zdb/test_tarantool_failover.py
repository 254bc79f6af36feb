"""Copies that survive losing a server: zero-db on a 3-member Tarantool replica set.

Real Tarantool processes (started through `zos zdb tarantool start`'s code) and a real
`zos zdb serve --engine tarantool`; the leader is killed with SIGKILL mid-writes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from zeroos.zdb.chain.verify import verify_online
from zeroos.zdb.client import Client
from zeroos.zdb.tarantool.instance import free_port, start

from .conftest import ZdbProcess
from .tarantool_util import HAVE_TARANTOOL, replica_set

pytestmark = pytest.mark.skipif(not HAVE_TARANTOOL, reason="no tarantool")


def _server(root: Path, addresses: str) -> ZdbProcess:
    return ZdbProcess(
        root, "--engine", "tarantool", "--tarantool", addresses, "--tarantool-timeout", "8"
    ).start()


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
        deadline = time.monotonic() + 20
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.02)
        before = len(acked)
        assert before >= 300, errors[:3]
        members[0].kill()  # kill -9 the leader mid-writes
        deadline = time.monotonic() + 30
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


def test_tarantool_down_is_one_error_line_then_recovers(tmp_path: Path) -> None:
    port = free_port()
    instance = start(tmp_path / "tt", port)
    zdb = _server(tmp_path / "zdb", instance.address)
    try:
        conn = redis.Redis(port=zdb.port, socket_timeout=30)
        conn.set_response_callback("SET", lambda r, **kw: r)
        assert conn.set(b"k", b"v") == b"k"
        instance.kill()
        with pytest.raises(redis.ResponseError, match=r"^Internal Error: tarantool: "):
            conn.set(b"k2", b"v2")
        assert conn.ping()  # the server keeps serving
        instance = start(tmp_path / "tt", port)
        assert conn.get(b"k") == b"v"
        assert conn.set(b"k2", b"v2") == b"k2"
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
        url = f"tarantool://127.0.0.1:{port}/moved"
        subprocess.run(
            [*zos, "migrate", "--from", str(tmp_path / "emb"), "--to", url],
            capture_output=True,
            timeout=120,
            check=True,
        )
        tt = ZdbProcess(
            tmp_path / "emb",
            "--engine",
            "tarantool",
            "--tarantool",
            f"127.0.0.1:{port}",
            "--tarantool-db",
            "moved",
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
