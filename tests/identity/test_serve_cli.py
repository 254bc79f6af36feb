"""`zos id serve` with its embedded zero-db, restarted with data kept; the `zos id` commands."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis

from zeroos.common.harness import Child, zos_serve
from zeroos.common.service import read_ready_file
from zeroos.identity.sealed import Sealer, load_key

from .conftest import chunked_flood


def _serve(data: Path, log: Path) -> tuple[Child, str]:
    argv = zos_serve("id", "--port", "0", "--data", str(data),
                     "--argon2-memory", "8192", "--argon2-time", "1")  # fmt: skip
    child = Child(argv, log.with_suffix(".ready"), log=log, name="zero-id").start(30)
    return child, "http://" + child.addresses[0]


def _stop(child: Child) -> int:
    return child.stop(timeout=30)


def _zos(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zeroos.cli", "id", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_cli_and_restart(tmp_path):
    data, log = tmp_path / "data", tmp_path / "serve.log"
    proc, url = _serve(data, log)
    env = {**os.environ, "ZOS_CONFIG_DIR": str(tmp_path / "cfg"), "ZOS_ID_URL": url,
           "ZOS_ID_PASSWORD": "clipassword1"}  # fmt: skip
    try:
        assert _zos(env, "user", "register", "cliuser").returncode == 0
        r = _zos(env, "login", "-u", "cliuser")
        assert r.returncode == 0, r.stderr
        stored = json.loads((tmp_path / "cfg" / "id.json").read_text())
        assert stored["username"] == "cliuser"
        assert stored["url"] == url
        assert oct((tmp_path / "cfg" / "id.json").stat().st_mode & 0o777) == "0o600"
        assert _zos(env, "org", "create", "cliorg").returncode == 0
        assert _zos(env, "org", "create", "cliorg.sub").returncode == 0
        assert json.loads(_zos(env, "org", "ismember", "cliorg", "cliuser").stdout) == {
            "IsMember": True
        }
        r = _zos(env, "apikey", "create", "k1")
        assert "secret" in json.loads(r.stdout)
        assert "secret" not in _zos(env, "apikey", "list").stdout
        token = _zos(
            env, "token", "--scope", "user:memberof:cliorg.sub", "--aud", "hub"
        ).stdout.strip()
        assert token.count(".") == 2
        r = _zos(env, "token", "inspect", token)
        assert r.returncode == 0, r.stderr
        inspected = json.loads(r.stdout)
        assert (inspected["active"], inspected["aud"]) == (True, "hub")
        assert inspected["scope"] == "user:memberof:cliorg.sub"
        r = _zos(env, "token", "inspect", token[:-4] + "AAAA")
        assert r.returncode == 1
        assert json.loads(r.stdout) == {"active": False}
        assert r.stderr == (
            "error: the token is not active (expired, forged, or its user or key is gone)\n"
        )
        r = _zos(env, "org", "show", "nosuchorg")
        assert r.returncode == 1
        assert r.stderr.startswith("error: ")
        assert "Traceback" not in r.stderr
        # the map's convention: the server answers /metrics, its requests counted by route
        metrics = httpx.get(url + "/metrics", timeout=10)
        assert metrics.status_code == 200
        assert 'zos_info{part="id",' in metrics.text
        for route in ("/api/users", "/v1/oauth/access_token"):  # a router's, the guard's
            labels = rf'method="POST",part="id",route="{route}",status="20\d"'
            counted = rf"zos_http_requests_total\{{{labels}\}} [1-9]"
            assert re.search(counted, metrics.text), metrics.text
        assert "cliuser" not in metrics.text  # names in paths never become labels
    finally:
        assert _stop(proc) == 0
    # the embedded zero-db stopped with it, and a new start finds everything
    assert "Traceback" not in log.read_text()
    # its log lines are lines of ours, one event each, never quoted inside another line
    lines = log.read_text().splitlines()
    assert any("level=info logger=zeroos.identity.zdb event=listening" in x for x in lines), lines
    for line in lines:
        assert re.match(r"ts=\S+ level=\w+ logger=\S+ event=", line), line
        assert " ts=" not in line, line
        assert "line=" not in line, line
    proc, url2 = _serve(data, log)
    try:
        env["ZOS_ID_URL"] = url2
        assert _zos(env, "login", "-u", "cliuser").returncode == 0
        tree = json.loads(_zos(env, "org", "show", "cliorg", "--tree").stdout)
        assert tree["children"][0]["globalid"] == "cliorg.sub"
        assert _zos(env, "user", "register", "clitwo").returncode == 0
        assert _zos(env, "login", "-u", "clitwo").returncode == 0
        r = _zos(env, "user", "delete", "clitwo", "--yes")
        assert r.returncode == 0, r.stderr
        assert "no longer exists" in _zos(env, "user", "show").stderr
        assert _zos(env, "logout").returncode == 0
        r = _zos(env, "whoami")
        assert r.returncode == 1
        assert "zos id login" in r.stderr
    finally:
        assert _stop(proc) == 0


def test_embedded_zdb_keeps_the_signing_keys_from_other_local_clients(tmp_path):
    """A local redis client that is not zero-id reads nothing; the stored key ring is sealed."""
    data, log = tmp_path / "data", tmp_path / "serve.log"
    proc, url = _serve(data, log)
    try:
        child = read_ready_file(data / "zdb.ready")  # the embedded zero-db's
        assert child is not None
        port = child.port
        jwks = httpx.get(url + "/.well-known/jwks.json", timeout=10).json()
        kid = jwks["keys"][0]["kid"]
        for intruder in (
            redis.Redis(port=port, socket_timeout=10),
            redis.Redis(unix_socket_path=str(data / "zdb.sock"), socket_timeout=10),
        ):
            with intruder:
                with pytest.raises(redis.ResponseError, match=r"^Namespace protected and private$"):
                    intruder.execute_command("SELECT", "zeroid")
                with pytest.raises(redis.ResponseError, match=r"^Access denied$"):
                    intruder.execute_command("SELECT", "zeroid", "guess")
                assert intruder.get("keyring") is None  # still in `default`, which is empty
        assert oct(data.stat().st_mode & 0o777) == "0o700"
        for name in ("zdb.secret", "keyring.key"):
            assert oct((data / name).stat().st_mode & 0o777) == "0o600", name
        # zero-id's own credentials (its user reads them) open the namespace: the ring is sealed
        kept = json.loads((data / "zdb.secret").read_text())
        with redis.Redis(port=port, socket_timeout=10) as owner:
            owner.execute_command("AUTH", kept["admin"])
            owner.execute_command("SELECT", "zeroid", kept["namespace"])
            raw = owner.get("keyring")
        assert raw is not None
        record = json.loads(raw)
        assert record["format"] == "zeroid-sealed-1"
        assert b"PRIVATE KEY" not in raw
        assert kid.encode() not in raw  # nothing of the ring is in clear
        plain = Sealer(load_key(data / "keyring.key")).open(raw)
        assert kid in json.loads(plain)["keys"][0]["kid"]
        assert "PRIVATE KEY" in json.loads(plain)["keys"][0]["pem"]
    finally:
        assert _stop(proc) == 0


def test_a_secret_file_others_may_read_is_refused(tmp_path):
    data, log = tmp_path / "data", tmp_path / "serve.log"
    proc, _ = _serve(data, log)
    assert _stop(proc) == 0
    (data / "keyring.key").chmod(0o644)
    r = subprocess.run(
        [sys.executable, "-m", "zeroos.cli", "id", "serve", "--port", "0", "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == (
        f"error: {data / 'keyring.key'} is readable by others (mode 644): chmod 600 it, "
        "and change the secret if others may have read it"
    )


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def test_chunked_floods_leave_the_servers_memory_alone(tmp_path):
    """Four 300 MiB chunked bodies in a row: each cut at 64 KiB, the process grows by little."""
    proc, url = _serve(tmp_path / "data", tmp_path / "serve.log")
    try:
        chunked_flood(url, "/api/users", "application/json")  # warm up the request path
        before = _rss_kib(proc.pid)
        form = "application/x-www-form-urlencoded"
        targets = [("/api/users", "application/json"), ("/v1/oauth/access_token", form)]
        for path, ctype in targets * 2:
            sent, answer = chunked_flood(url, path, ctype)
            assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
            assert sent < 32 * 2**20
        grown = _rss_kib(proc.pid) - before
        assert grown < 32 * 1024, f"RSS grew by {grown} KiB"
    finally:
        assert _stop(proc) == 0
