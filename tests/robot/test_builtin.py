"""The built-in templates against the real parts: docs/robot-zero-db.yaml deploys a zero-db
server on a real `zos node serve --dev` (started through its core.system) and a namespace on
it; redis-py then uses the namespace."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis
import yaml

from zeroos.common.harness import Child, zos_serve
from zeroos.testing import free_port

from .conftest import RobotServer

BLUEPRINT = Path(__file__).parents[2] / "docs" / "robot-zero-db.yaml"


def _wait_all(http: Any, tasks: list[dict[str, Any]], timeout: float = 120) -> list[dict[str, Any]]:
    done = []
    for task in tasks:
        end = time.monotonic() + timeout
        while True:
            got = http.get(f"/services/{task['service_guid']}/task_list/{task['guid']}").json()
            if got["state"] in ("ok", "error"):
                done.append(got)
                break
            assert time.monotonic() < end, f"{task['action_name']} still {got['state']}"
            time.sleep(0.1)
    return done


def test_the_zero_db_blueprint_deploys_a_working_namespace(
    robot_server: RobotServer, tmp_path: Path
) -> None:
    node = Child(
        zos_serve("node", "--port", "0", "--dev", "--data", str(tmp_path / "node")),
        tmp_path / "node.ready",
        log=tmp_path / "node.log",
        name="node",
    ).start(60)
    zdb_port = free_port()
    content = yaml.safe_load(BLUEPRINT.read_text())
    server = content["services"][0]["zero_db__db1"]
    server.update(
        node=f"127.0.0.1:{node.port}",
        port=zdb_port,
        data=str(tmp_path / "zdb"),
        command=f"{sys.executable} -m zeroos.cli.main",
    )
    try:
        with robot_server.http() as http:
            mine = tmp_path / "zero-db.yaml"
            mine.write_text(yaml.safe_dump(content))
            applied = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "zeroos.cli",
                    "robot",
                    "blueprint",
                    str(mine),
                    "--url",
                    robot_server.url,
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert applied.returncode == 0, applied.stderr
            assert "2 task(s) scheduled" in applied.stdout
            services = {s["name"]: s for s in http.get("/services").json()}
            tasks = [_install_task(http, services[n]) for n in ("db1", "files")]
            results = _wait_all(http, tasks)
            assert [t["state"] for t in results] == ["ok", "ok"], results
            assert results[0]["result"] == f"127.0.0.1:{zdb_port}"
            assert results[1]["result"] == f"zdb://127.0.0.1:{zdb_port}/files"

            client = redis.Redis(port=zdb_port, socket_timeout=10)
            client.execute_command("SELECT", "files", "files-password")
            client.execute_command("SET", "hello", "world")
            assert client.execute_command("GET", "hello") == b"world"
            info = client.execute_command("NSINFO", "files").decode()
            assert "data_limits_bytes: 1073741824" in info
            client.close()

            db1 = services["db1"]
            stop = http.post(f"/services/{db1['guid']}/task_list", json={"action_name": "stop"})
            assert _wait_all(http, [stop.json()])[0]["state"] == "ok"
            gone = redis.Redis(port=zdb_port, socket_timeout=2)
            end = time.monotonic() + 30
            while True:  # the node killed the zero-db's job
                try:
                    gone.ping()
                except redis.ConnectionError:
                    break
                assert time.monotonic() < end, "the zero-db still answers after stop"
                time.sleep(0.1)
    finally:
        node.stop()


def _install_task(http: Any, service: dict[str, Any]) -> Any:
    """The install task the blueprint scheduled for ``service`` (not the first task: the
    recurring ``ping`` may be scheduled before it, when a tick falls between the two)."""
    tasks = http.get(f"/services/{service['guid']}/task_list").json()
    return next(t for t in tasks if t["action_name"] == "install")


def _installed(http: Any, name: str, timeout: float = 120) -> tuple[dict[str, Any], Any]:
    """Service ``name`` and the install task the blueprint scheduled, once it finished."""
    service = {s["name"]: s for s in http.get("/services").json()}[name]
    task = _install_task(http, service)
    return service, _wait_all(http, [task], timeout)[0]


def _act(http: Any, service: dict[str, Any], action: str, timeout: float = 120) -> Any:
    """Run ``action`` on ``service``: its task, finished ok."""
    task = http.post(f"/services/{service['guid']}/task_list", json={"action_name": action})
    assert task.status_code == 201, task.text
    done = _wait_all(http, [task.json()], timeout)[0]
    assert done["state"] == "ok", done
    return done


def _apply(robot_server: RobotServer, tmp_path: Path, blueprint: dict[str, Any]) -> None:
    mine = tmp_path / "blueprint.yaml"
    mine.write_text(yaml.safe_dump(blueprint))
    applied = subprocess.run(
        [sys.executable, "-m", "zeroos.cli", "robot", "blueprint", str(mine),
         "--url", robot_server.url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr


def _closed(url: str) -> None:
    end = time.monotonic() + 30
    while True:  # the node killed the part's job
        try:
            httpx.get(url, timeout=2)
        except httpx.TransportError:
            return
        assert time.monotonic() < end, f"{url} still answers after stop"
        time.sleep(0.1)


def _no_process_uses(folder: Path) -> None:
    """Wait until no process (the part or its embedded children) names ``folder``."""
    end = time.monotonic() + 30
    while True:
        left = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if str(folder).encode() in cmdline.read_bytes():
                    left.append(cmdline.parent.name)
            except OSError:
                continue  # the process ended meanwhile
        if not left:
            return
        assert time.monotonic() < end, f"processes {left} still use {folder} after stop"
        time.sleep(0.1)


def _node(tmp_path: Path) -> Child:
    return Child(
        zos_serve("node", "--port", "0", "--dev", "--data", str(tmp_path / "node")),
        tmp_path / "node.ready",
        log=tmp_path / "node.log",
        name="node",
    ).start(60)


def _deploy_and_stop(
    robot_server: RobotServer, tmp_path: Path, template: str, probe: str
) -> tuple[str, Any]:
    """Deploy ``template`` on a real node through a blueprint; GET ``probe`` on it, stop it,
    and see its port closed. The install task's result and the probe's JSON."""
    node = _node(tmp_path)
    port = free_port()
    try:
        with robot_server.http() as http:
            _apply(robot_server, tmp_path, {
                "services": [{f"{template}__it": {
                    "node": f"127.0.0.1:{node.port}", "port": port,
                    "data": str(tmp_path / template),
                    "command": f"{sys.executable} -m zeroos.cli.main",
                }}],
                "actions": [{"template": template, "actions": ["install"]}],
            })  # fmt: skip
            service = {s["name"]: s for s in http.get("/services").json()}["it"]
            done = _wait_all(http, [_install_task(http, service)])[0]
            assert done["state"] == "ok", done
            url = f"http://127.0.0.1:{port}"
            assert done["result"] == url
            got = httpx.get(f"{url}{probe}", timeout=10)
            assert got.status_code == 200, got.text

            stop = http.post(f"/services/{service['guid']}/task_list", json={"action_name": "stop"})
            assert _wait_all(http, [stop.json()])[0]["state"] == "ok"
            _closed(f"{url}{probe}")
            _no_process_uses(tmp_path / template)
            return done["result"], got.json()
    finally:
        node.stop()


def test_the_zero_id_template_serves_its_keys_and_stop_closes_its_port(
    robot_server: RobotServer, tmp_path: Path
) -> None:
    _, jwks = _deploy_and_stop(robot_server, tmp_path, "zero_id", "/.well-known/jwks.json")
    assert jwks["keys"]
    assert {k["alg"] for k in jwks["keys"]} == {"ES384"}


def test_the_hub_template_serves_flists_and_stop_closes_its_port(
    robot_server: RobotServer, tmp_path: Path
) -> None:
    _, listing = _deploy_and_stop(robot_server, tmp_path, "hub", "/api/flist")
    assert listing["status"] == "success"
    assert isinstance(listing["payload"], list)
