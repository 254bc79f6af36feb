"""Routes past the first ones: a service's logs, template update and checkout, and webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import RobotServer
from .templates import commit, git_repository

SECRET = "hook-secret-for-tests"
GREETER = """
from zeroos.robot import TemplateBase


class Greeter(TemplateBase):
    template_name = "greeter"

    def hello(self) -> str:
        return "{greeting}"
"""


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[RobotServer]:
    server = RobotServer(
        tmp_path, git_repository(tmp_path / "repo"), extra=("--webhook-secret", SECRET)
    )
    try:
        yield server.start()
    finally:
        server.stop()


def _run(http: httpx.Client, guid: str, action: str) -> dict[str, Any]:
    task = http.post(f"/services/{guid}/task_list", json={"action_name": action}).json()
    end = time.monotonic() + 60
    while (got := http.get(f"/services/{guid}/task_list/{task['guid']}").json())["state"] in (
        "new",
        "running",
    ):
        assert time.monotonic() < end
        time.sleep(0.05)
    result: dict[str, Any] = got
    return result


def _greeter(repo: Path, greeting: str) -> None:
    folder = repo / "templates" / "greeter"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "greeter.py").write_text(GREETER.format(greeting=greeting))


def _signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_service_logs_are_its_actions_lines_and_outlive_a_restart(hooked: RobotServer) -> None:
    with hooked.http() as http:
        guid = http.post("/services", json={"template": "counter", "name": "l"}).json()["guid"]
        task = _run(http, guid, "install")
        _run(http, guid, "add")
        lines = http.get(f"/services/{guid}/logs").json()
        assert [(x["level"], x["message"], x["task"]) for x in lines] == [
            ("info", "installing c", task["guid"])
        ]
        assert http.get(f"/services/{guid}/logs", params={"task": "other"}).json() == []
        assert http.get("/services/nope/logs").status_code == 404
    hooked.stop()
    with hooked.start().http() as http:  # the logs are kept in the store, with the service
        assert http.get(f"/services/{guid}/logs").json() == lines


def test_update_and_checkout_reload_templates(hooked: RobotServer) -> None:
    repo = hooked.repo
    url = f"file://{repo}"
    with hooked.http() as http:
        _greeter(repo, "hello")
        commit(repo, "greeter")
        assert "greeter" not in [t["name"] for t in http.get("/templates").json()]
        updated = http.post("/templates/update", json={"url": url})
        assert updated.status_code == 200, updated.text
        assert "greeter" in [t["name"] for t in updated.json()["templates"]]
        guid = http.post("/services", json={"template": "greeter", "name": "g"}).json()["guid"]
        assert _run(http, guid, "hello")["result"] == "hello"

        subprocess.run(["git", "checkout", "-q", "-b", "v2"], cwd=repo, check=True, timeout=60)
        _greeter(repo, "bonjour")
        commit(repo, "french")
        subprocess.run(["git", "checkout", "-q", "main"], cwd=repo, check=True, timeout=60)
        moved = http.post("/templates/checkout", json={"url": url, "ref": "v2"})
        assert moved.status_code == 200, moved.text
        assert _run(http, guid, "hello")["result"] == "bonjour"  # the service runs the new code
        assert http.get("/robot").json()["repositories"] == [f"{url}#v2"]
        missing = http.post("/templates/checkout", json={"url": f"{url}#v2", "ref": "nope"})
        assert missing.status_code == 400
        assert "nope" in missing.json()["message"]
        unknown = http.post("/templates/update", json={"url": "file:///elsewhere"})
        assert unknown.status_code == 404
    hooked.stop()  # the checkout is kept
    hooked.start()
    with hooked.http() as http:
        assert f"{url}#v2" in http.get("/robot").json()["repositories"]


def test_a_signed_push_re_pulls_its_repository(hooked: RobotServer) -> None:
    repo = hooked.repo
    push = {
        "ref": "refs/heads/main",
        "repository": {"clone_url": f"file://{repo}.git", "html_url": "https://example.com/x"},
    }
    body = json.dumps(push).encode()
    headers = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
    with hooked.http() as http:
        _greeter(repo, "hi")
        commit(repo, "greeter")
        unsigned = http.post("/webhooks/github", content=body, headers=headers)
        assert unsigned.status_code == 401
        forged = http.post(
            "/webhooks/github",
            content=body,
            headers={**headers, "X-Hub-Signature-256": _signed(body, "not-the-secret")},
        )
        assert forged.status_code == 401
        assert "does not match" in forged.json()["message"]
        assert "greeter" not in [t["name"] for t in http.get("/templates").json()]

        done = http.post(
            "/webhooks/github",
            content=body,
            headers={**headers, "X-Hub-Signature-256": _signed(body)},
        )
        assert done.status_code == 200, done.text
        assert done.json()["updated"] == [f"file://{repo}"]
        assert "greeter" in [t["name"] for t in http.get("/templates").json()]

        other = json.dumps({**push, "ref": "refs/heads/elsewhere"}).encode()
        answer = http.post(
            "/webhooks/github",
            content=other,
            headers={**headers, "X-Hub-Signature-256": _signed(other)},
        )
        assert answer.json()["updated"] == []
        ping = b'{"zen": "hi"}'
        answer = http.post(
            "/webhooks/github",
            content=ping,
            headers={**headers, "X-GitHub-Event": "ping", "X-Hub-Signature-256": _signed(ping)},
        )
        assert answer.json() == {"event": "ping", "updated": [], "errors": []}
        bad = b'{"ref": "refs/heads/main"}'
        answer = http.post(
            "/webhooks/github",
            content=bad,
            headers={**headers, "X-Hub-Signature-256": _signed(bad)},
        )
        assert answer.status_code == 400
        assert answer.json()["message"].startswith("not a push event: repository")
