"""README.md's examples run as written, against servers started as the README says."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from tests.zdb.conftest import ZdbProcess, has_redis_cli
from zeroos.common.harness import Child, zos_serve
from zeroos.testing.guest import Guest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    """The text of a README section, from its heading to the next one of its level or above."""
    match = re.search(rf"^(#+) {re.escape(title)}\n(.*?)(?=^#{{1,2}} |\Z)", README, re.M | re.S)
    if match is None:
        raise LookupError(f"README has no section {title!r}")
    return match.group(2)


def _blocks(section: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", _section(section), re.M | re.S)


def _ports(text: str, ports: list[int]) -> str:
    """The example with its ports 9900, 9901, ... moved to the servers the test started."""
    return re.sub(r"\b99(\d\d)\b", lambda m: str(ports[int(m.group(1))]), text)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ZdbProcess]]:
    started: list[ZdbProcess] = []
    yield started
    for server in started:
        server.stop()


def test_python_client_example(tmp_path: Path, servers: list[ZdbProcess]) -> None:
    (block,) = _blocks("The Python client", "python")
    # as the text above the example says: the quick start's server, with --admin secret
    assert "`bash scripts/quickstart.sh --admin\nsecret`" in _section("The Python client")
    servers.append(ZdbProcess(tmp_path / "zdb", "--admin", "secret").start())
    out = subprocess.run(
        [sys.executable, "-c", _ports(block, [servers[0].port])],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "b'...'",
        "b'cat.jpg' 3",
        "1",
        "No space left on this namespace",
        "b'v'",
    ]
    # the namespace is private: without its password nothing in it is readable
    conn = servers[0].client()
    with pytest.raises(redis.ResponseError, match="Namespace protected and private"):
        conn.execute_command("SELECT", "photos")
    conn.close()


@pytest.mark.skipif(not has_redis_cli(), reason="no redis-cli")
def test_zero_stor_setup_and_config(tmp_path: Path, servers: list[ZdbProcess]) -> None:
    for i in range(6):
        servers.append(ZdbProcess(tmp_path / f"zdb{i}", "--admin", "adminpw").start())
    ports = [s.port for s in servers]
    (setup,) = _blocks("zero-stor", "sh")
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _ports(setup, ports)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["OK"] * (3 * 6 + 3), out.stdout  # every command answered OK

    (config,) = _blocks("zero-stor", "yaml")
    config = _ports(config, ports).replace("<64 hex chars>", "ab" * 32)
    assert yaml.safe_load(config)["datastor"]["shards"][5] == f"127.0.0.1:{ports[5]}"
    (tmp_path / "zstor.yaml").write_text(config)
    data = os.urandom(300_000)

    def zos(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "zeroos.cli", "stor", "-c", "zstor.yaml", *args],
            input=stdin,
            capture_output=True,
            timeout=120,
            cwd=tmp_path,
        )

    put = zos("upload", "-", "--key", "secret-plans.pdf", "-m", "owner=alice", stdin=data)
    assert put.returncode == 0, put.stderr
    assert zos("download", "secret-plans.pdf", "-o", "-").stdout == data
    assert zos("check", "--all").returncode == 0
    # the file's record is in the metastor, readable with the password...
    conn = servers[0].client()
    conn.execute_command("SELECT", "meta", "secret")
    assert conn.execute_command("GET", "myfiles/f:secret-plans.pdf").count(b"alice") == 1
    conn.close()
    # ... and without it neither the metadata nor the shards (a public namespace would be)
    for server, ns in [(servers[0], "meta"), *((s, "myfiles") for s in servers)]:
        conn = server.client()
        with pytest.raises(redis.ResponseError, match="Namespace protected and private"):
            conn.execute_command("SELECT", ns)
        conn.close()


def test_flist_commands(tmp_path: Path, servers: list[ZdbProcess]) -> None:
    servers.append(ZdbProcess(tmp_path / "zdb").start())
    (block,) = _blocks("flists", "sh")
    # HOME: zos flist create's block id cache (~/.cache/zos) lands in the test's folder
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "HOME": str(tmp_path)}
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _ports(block, [servers[0].port])],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "hello"  # the extracted copy put into the flist
    assert "hello" in lines  # cat
    assert any(line.endswith(" motd") and line.startswith("-rw") for line in lines)  # ls
    assert any("my app" in line for line in lines)  # info shows the tag
    assert any("0 problems" in line for line in lines)  # check
    assert (tmp_path / "out" / "bin" / "motd").readlink() == Path("../etc/motd")
    # both stores got every block
    blocks = [p for p in (tmp_path / "blocks").rglob("*") if p.is_file()]
    assert blocks
    with redis.Redis(port=servers[0].port, socket_timeout=10) as conn:
        assert conn.dbsize() == len(blocks)


def test_zero_id_examples(tmp_path: Path) -> None:
    cli, curl = _blocks("zero-id", "sh")
    argv = zos_serve("id", "--port", "0", "--data", str(tmp_path / "zeroid-data"),
                     "--argon2-memory", "8192", "--argon2-time", "1")  # fmt: skip
    server = Child(argv, tmp_path / "id.ready", log=tmp_path / "id.log", name="zero-id").start(60)
    url = "http://" + server.addresses[0]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "ZOS_ID_URL": url,
        "ZOS_ID_PASSWORD": "readme-password-1",
        "ZOS_CONFIG_DIR": str(tmp_path / "config"),
    }

    def run(script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=env,
        )

    try:
        commands = run(cli)
        examples = run(curl.replace("http://127.0.0.1:8080", url))
    finally:
        assert server.stop(timeout=30) == 0
    assert commands.returncode == 0, commands.stderr
    assert commands.stdout.splitlines()[-1].count(".") == 2  # the JWT, last
    assert f"logged in to {url} as alice" in commands.stdout
    assert '"secret":' in commands.stdout
    assert examples.returncode == 0, examples.stderr
    assert examples.stdout.splitlines() == [
        "user:name",
        '{"active":true,"username":"carol","scope":"user:name","aud":"hub"}',
    ]


def test_node_example(tmp_path: Path) -> None:
    block = _blocks("zero-os node", "python")[0]
    ready = tmp_path / "node.ready"
    argv = zos_serve("node", "--dev", "--port", "0", "--data", str(tmp_path / "data"))
    with Child(argv, ready, log=tmp_path / "node.log").start(60) as node:
        code = block.replace("port=6379", f"port={node.port}")
        code = code.replace("/tmp/zos-demo", str(tmp_path / "demo"))
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=180
        )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "PONG",
        "ERROR 3 hello",
        "KILLED",
        "TIMEOUT",
        "['greeting']",
        "['cru', 'hru', 'mru', 'sru']",
    ]
    assert (tmp_path / "demo" / "greeting").read_bytes() == b"hi there"


@pytest.mark.skipif(os.geteuid() != 0, reason="containers and VMs need root")
def test_node_containers_and_vms_example(tmp_path: Path, vm_guest: Guest) -> None:
    from zeroos.flist.create import create as create_flist
    from zeroos.testing import free_port
    from zeroos.testing.runtime import busybox_rootfs

    block = _blocks("zero-os node", "python")[1]
    flist = tmp_path / "busybox.fl"
    create_flist(busybox_rootfs(tmp_path / "tree"), flist, [f"dir://{tmp_path / 'blocks'}"])
    box_port, vm_port = free_port(), free_port()
    tag = os.urandom(2)  # a bridge of its own: other nodes may run beside
    bridge = ["--bridge", f"zr{tag.hex()}", "--bridge-cidr", f"10.{tag[0]}.{tag[1]}.1/24"]
    argv = zos_serve("node", "--dev", "--port", "0", "--data", str(tmp_path / "data"), *bridge)
    with Child(argv, tmp_path / "node.ready", log=tmp_path / "node.log").start(60) as node:
        code = block.replace("port=6379", f"port={node.port}")
        code = code.replace("/srv/busybox.fl", str(flist))
        code = code.replace("/srv/vmlinuz", str(vm_guest.kernel))
        code = code.replace("/srv/initrd.gz", str(vm_guest.initrd))
        code = code.replace("{8022:", f"{{{box_port}:").replace('"8080"', f'"{vm_port}"')
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
        )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "box",
        f"{{'{box_port}': 22}}",
        f"running {{'{vm_port}': 80}}",
        "{} []",
    ]


def test_robot_blueprint_is_the_one_tested() -> None:
    """The README's blueprint is docs/robot-zero-db.yaml, which tests/robot/test_builtin.py
    applies with `zos robot blueprint` against a real node."""
    (block,) = _blocks("zero-robot", "yaml")
    assert block == (Path(__file__).parents[1] / "docs" / "robot-zero-db.yaml").read_text()


def test_zero_hub_example(tmp_path: Path) -> None:
    serve, client = _blocks("zero-hub", "sh")
    assert serve.split("#")[0].split() == ["zos", "hub", "serve"]
    # as the README says, on embedded defaults (its own zero-db and zero-id), on a free port
    argv = zos_serve("hub", "--port", "0", "--data", str(tmp_path / "zerohub-data"), "--no-seed")
    log = tmp_path / "hub.log"
    with Child(argv, tmp_path / "hub.ready", log=log, name="zero-hub").start(120) as hub:
        printed = re.search(r"zero-id at (http://\S+)", log.read_text())
        assert printed, log.read_text()
        script = client.replace("http://127.0.0.1:8081", printed.group(1))
        script = script.replace("http://127.0.0.1:5555", f"http://127.0.0.1:{hub.port}")
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "ZOS_CONFIG_DIR": str(tmp_path / "config"),
            "HOME": str(tmp_path),
        }
        out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                             text=True, timeout=300, cwd=tmp_path, env=env)  # fmt: skip
        secret = tmp_path / "zerohub-data" / "zdb" / "zdb.secret"
        assert secret.stat().st_mode & 0o777 == 0o600
        assert hub.stop() == 0
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "logged in to" in out.stdout
    assert any(line.startswith("app.fl\t") and line.endswith("\tregular") for line in lines)
    assert '["dana/app.fl"]' in lines
    assert lines[-1] == "hello from the hub"
    # the served flist names the hub's store without its password
    password = json.loads(secret.read_text())["namespace"].encode()
    assert password not in (tmp_path / "app.fl").read_bytes()
