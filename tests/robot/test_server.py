"""The robot as a real server: 0-robot's routes, blueprints, kill -9, the command line."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from zeroos.robot.builtin import ROOT as builtin_root

from .conftest import RobotServer

BLUEPRINT = """
services:
  - counter__web:
      start: 10
      label: web
  - counter/0.0.1__db:
      label: db
actions:
  - actions: [install]
  - service: web
    actions: [add]
    args: {n: 5}
"""


def _wait_task(http: httpx.Client, guid: str, task: str, deadline: float = 60) -> dict[str, Any]:
    end = time.monotonic() + deadline
    while True:
        answer = http.get(f"/services/{guid}/task_list/{task}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["state"] in ("ok", "error"):
            return body
        assert time.monotonic() < end, f"task {task} still {body['state']}"
        time.sleep(0.05)


def _zos(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "zeroos.cli", "robot", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_templates_from_git_and_their_load_errors(robot_server: RobotServer) -> None:
    with robot_server.http() as http:
        info = http.get("/robot").json()
        uids = [t["uid"] for t in http.get("/templates").json()]
    names = sorted(u.split("/")[-2] for u in uids if not u.startswith("zeroos/builtin/"))
    assert names == ["counter", "ticker"]
    builtin = sorted(u for u in uids if u.startswith("zeroos/builtin/"))
    folders = sorted(
        p.name
        for p in (builtin_root / "templates").iterdir()
        if p.is_dir() and not p.name.startswith("_")
    )
    assert "zero_db" in folders
    assert builtin == [f"zeroos/builtin/templates/{name}/0.1.0" for name in folders]
    assert len(info["template_errors"]) == 2
    assert info["repositories"] == [f"file://{robot_server.repo}"]
    with robot_server.http() as http:
        gone = http.post("/templates", json={"url": "file:///nonexistent/repo.git"})
        assert gone.status_code == 400
        assert gone.json()["message"].startswith("file:///nonexistent/repo.git: git clone failed")
        assert http.get("/robot").status_code == 200  # still serving


def test_a_blueprint_creates_services_and_runs_their_actions(robot_server: RobotServer) -> None:
    with robot_server.http() as http:
        answer = http.post(
            "/blueprints", content=BLUEPRINT, headers={"Content-Type": "application/yaml"}
        )
        assert answer.status_code == 201, answer.text
        made = {s["name"]: s for s in answer.json()["services"]}
        tasks = answer.json()["tasks"]
        assert sorted(made) == ["db", "web"]
        assert [t["action_name"] for t in tasks] == ["install", "install", "add"]
        for task in tasks:
            assert _wait_task(http, task["service_guid"], task["guid"])["state"] == "ok"
        web = http.get(f"/services/{made['web']['guid']}").json()
        assert web["data"] == {"start": 15, "label": "web"}
        assert web["state"] == [{"category": "actions", "tag": "install", "state": "ok"}]
        listed = http.get("/services", params={"template_name": "counter"}).json()
        assert sorted(s["name"] for s in listed) == ["db", "web"]
        assert http.get("/services", params={"name": "db"}).json()[0]["guid"] == made["db"]["guid"]
        done = http.get(f"/services/{made['web']['guid']}/task_list", params={"state": "ok"})
        assert [t["action_name"] for t in done.json()] == ["install", "add"]


def test_two_blueprints_asking_for_the_same_service(robot_server: RobotServer) -> None:
    yaml = {"Content-Type": "application/yaml"}
    with robot_server.http() as http:
        first = http.post("/blueprints", content=BLUEPRINT, headers=yaml).json()
        again = http.post("/blueprints", content=BLUEPRINT, headers=yaml)
        assert again.status_code == 201
        assert {s["guid"] for s in again.json()["services"]} == {
            s["guid"] for s in first["services"]
        }
        other = BLUEPRINT.replace("label: db", "label: other").replace(
            "actions:", "  - counter__fresh: {}\nactions:", 1
        )
        clash = http.post("/blueprints", content=other, headers=yaml)
        assert clash.status_code == 409
        assert clash.json()["message"] == "service 'db' exists already with other data"
        assert http.get("/services", params={"name": "fresh"}).json() == []  # nothing made


def test_bad_input_is_one_clear_error(robot_server: RobotServer) -> None:
    with robot_server.http() as http:
        bad = http.post(
            "/services", json={"template": "counter", "name": "x", "data": {"start": []}}
        )
        assert bad.status_code == 400
        assert "start: Input should be a valid integer" in bad.json()["message"]
        unknown = http.post(
            "/blueprints",
            content="services:\n  - nothing__x: {}\n",
            headers={"Content-Type": "application/yaml"},
        )
        assert unknown.status_code == 404
        assert unknown.json()["message"].startswith("no template 'nothing'")
        notyaml = http.post("/blueprints", content="a: [", headers={"Content-Type": "text/yaml"})
        assert notyaml.status_code == 400
        made = http.post("/services", json={"template": "counter", "name": "c"}).json()
        boom = http.post(f"/services/{made['guid']}/task_list", json={"action_name": "boom"})
        failed = _wait_task(http, made["guid"], boom.json()["guid"])
        assert failed["error"]["message"] == "ValueError: the boom action always fails"
        nope = http.post(f"/services/{made['guid']}/task_list", json={"action_name": "fly"})
        assert nope.status_code == 400
        assert http.get("/services/no-such-guid").status_code == 404
        assert http.delete(f"/services/{made['guid']}").status_code == 204
        assert http.get(f"/services/{made['guid']}").status_code == 404


def test_kill_9_keeps_services_and_task_lists(robot_server: RobotServer) -> None:
    with robot_server.http() as http:
        made = http.post("/services", json={"template": "counter", "name": "k"}).json()
        guid = made["guid"]
        first = http.post(f"/services/{guid}/task_list", json={"action_name": "add"}).json()
        _wait_task(http, guid, first["guid"])
        slow = http.post(
            f"/services/{guid}/task_list", json={"action_name": "slow", "args": {"seconds": 20}}
        ).json()
        pending = [
            http.post(
                f"/services/{guid}/task_list", json={"action_name": "add", "args": {"n": n}}
            ).json()
            for n in (10, 100)
        ]
        end = time.monotonic() + 60
        while http.get(f"/services/{guid}/task_list/{slow['guid']}").json()["state"] != "running":
            assert time.monotonic() < end
            time.sleep(0.05)
    robot_server.kill()
    robot_server.start()
    with robot_server.http() as http:
        assert http.get(f"/services/{guid}").json()["name"] == "k"
        interrupted = http.get(f"/services/{guid}/task_list/{slow['guid']}").json()
        assert interrupted["state"] == "error"
        assert interrupted["error"]["message"] == "the robot stopped while this task ran"
        results = [_wait_task(http, guid, t["guid"])["result"] for t in pending]
        assert results == [11, 111]
        assert http.get(f"/services/{guid}/task_list/{first['guid']}").json()["result"] == 1


def test_the_command_line(robot_server: RobotServer, tmp_path: Path) -> None:
    url = ("--url", robot_server.url)
    blueprint = tmp_path / "bp.yaml"
    blueprint.write_text(BLUEPRINT)
    out = _zos("blueprint", str(blueprint), *url).stdout
    assert "web" in out
    assert "3 task(s) scheduled" in out
    ran = _zos("task", "run", "web", "add", "--args", '{"n": 2}', *url).stdout
    assert '"state": "ok"' in ran
    assert "web" in _zos("ls", *url).stdout
    assert "/counter/0.0.1" in _zos("templates", *url).stdout
    assert '"name": "db"' in _zos("get", "db", *url).stdout
    listed = _zos("task", "ls", "web", "--state", "ok", *url).stdout
    assert "add" in listed
    failed = _zos("task", "run", "web", "boom", *url, check=False)
    assert failed.returncode == 1
    assert "error: boom failed: ValueError: the boom action always fails" in failed.stderr


def test_the_command_line_shows_progress_and_logs(robot_server: RobotServer) -> None:
    from zeroos.cli.robot import progress_line
    from zeroos.robot.client import RobotClient

    url = ("--url", robot_server.url)
    with robot_server.http() as http:
        made = http.post("/services", json={"template": "counter", "name": "p"}).json()
        guid = made["guid"]
    with RobotClient(robot_server.url) as client:
        slow = client.schedule(guid, "slow", {"seconds": 3})
        after = client.schedule(guid, "install")
        end = time.monotonic() + 60
        while client.task(guid, slow.guid).state.value != "running":
            assert time.monotonic() < end
            time.sleep(0.05)
        waiting = progress_line(client, guid, client.task(guid, after.guid), "install on p")
        assert waiting == "install on p: waiting, 0 task(s) ahead, slow running"
        running = progress_line(client, guid, client.task(guid, slow.guid), "slow on p")
        assert running.startswith("slow on p: running for ")
    watched = _zos("task", "ls", "p", "--watch", *url).stdout  # returns once none waits
    assert "install" in watched
    assert "slow" in watched
    logs = _zos("logs", "p", *url).stdout
    assert "installing c" in logs
    assert "info" in logs
