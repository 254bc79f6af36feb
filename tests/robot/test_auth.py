"""Every route of a robot that trusts a real zero-id: anonymous, outsider, user, secret, admin."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from zeroos.common.harness import Child, zos_serve

from .templates import write_templates

_names = itertools.count()


@dataclass
class World:
    robot: str
    ident: str
    admin: str  # tokens
    user: str
    other_user: str
    outsider: str


def _token(ident: str, name: str, scope: str | None = None) -> str:
    with httpx.Client(base_url=ident, timeout=30) as http:
        http.post("/api/users", json={"username": name, "password": "password123"})
        data = {"grant_type": "password", "username": name, "password": "password123"}
        if scope:
            data["scope"] = scope
        answer = http.post("/v1/oauth/access_token", data=data)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])


def _join(ident: str, org: str, owner: str, member: str) -> str:
    """``member`` joins ``org``; its token holding user:memberof:<org>."""
    owner_token, member_token = _token(ident, owner), _token(ident, member)
    with httpx.Client(base_url=ident, timeout=30) as http:
        http.post(
            "/api/organizations",
            json={"globalid": org},
            headers={"Authorization": f"bearer {owner_token}"},
        )
        answer = http.post(
            f"/api/organizations/{org}/members",
            json={"searchstring": member},
            headers={"Authorization": f"bearer {owner_token}"},
        )
        assert answer.is_success, answer.text
        answer = http.post(
            f"/api/users/{member}/organizations/{org}/roles/member",
            headers={"Authorization": f"bearer {member_token}"},
        )
        assert answer.is_success, answer.text
    return _token(ident, member, f"user:memberof:{org}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("robot-auth")
    ident = Child(
        zos_serve("id", "--port", "0", "--data", str(root / "id"),
                  "--argon2-memory", "8192", "--argon2-time", "1"),
        root / "id.ready", log=root / "id.log",
    )  # fmt: skip
    robot = None
    try:
        ident.start(60)
        id_url = f"http://127.0.0.1:{ident.port}"
        n = next(_names)
        admin = _join(id_url, f"robot-admins{n}", f"founder{n}", f"admin{n}")
        user = _join(id_url, f"robot-users{n}", f"userowner{n}", f"user{n}")
        other = _join(id_url, f"robot-users{n}", f"userowner{n}", f"other{n}")
        outsider = _token(id_url, f"outsider{n}")
        repo = write_templates(root / "repo", broken=False)
        robot = Child(
            zos_serve("robot", "--port", "0", "--data", str(root / "data"),
                      "--template-repo", str(repo), "--id", id_url,
                      "--admin-org", f"robot-admins{n}", "--user-org", f"robot-users{n}"),
            root / "robot.ready", log=root / "robot.log",
        ).start(60)  # fmt: skip
        yield World(f"http://127.0.0.1:{robot.port}", id_url, admin, user, other, outsider)
    finally:
        if robot is not None:
            assert robot.stop() == 0
        ident.stop()


def _http(world: World, token: str | None = None, secret: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"bearer {token}"} if token else {}
    if secret:
        headers["ZrobotSecret"] = secret
    return httpx.Client(base_url=world.robot, timeout=30, headers=headers)


def test_without_dev_or_id_the_robot_refuses_to_start(tmp_path: Path) -> None:
    child = Child(
        zos_serve("robot", "--port", "0", "--data", str(tmp_path / "d")),
        tmp_path / "r.ready", log=tmp_path / "r.log",
    )  # fmt: skip
    with pytest.raises(Exception, match="exited with 1"):
        child.start(60)
    assert (
        "error: zero-robot needs --id URL and --admin-org ORG (or --dev)"
        in (tmp_path / "r.log").read_text()
    )


def test_every_route_by_every_kind_of_caller(world: World) -> None:
    with _http(world, world.user) as user:
        made = user.post("/services", json={"template": "counter", "name": "mine"})
        assert made.status_code == 201, made.text
        guid, secret = made.json()["guid"], made.json()["secret"]
        assert made.json()["owner"].startswith("user")
        assert "secret" not in user.get(f"/services/{guid}").json()
    with _http(world, world.admin) as admin:
        theirs = admin.post("/services", json={"template": "counter", "name": "admins"}).json()
    routes = [
        ("GET", "/robot", None),
        ("GET", "/templates", None),
        ("GET", "/services", None),
        ("GET", f"/services/{guid}", None),
        ("GET", f"/services/{guid}/task_list", None),
        ("POST", f"/services/{guid}/task_list", {"action_name": "add"}),
        ("GET", f"/services/{guid}/logs", None),
        ("POST", "/templates/update", {}),
        ("POST", "/templates/checkout", {"url": "x", "ref": "main"}),
    ]
    with _http(world) as anonymous:
        for method, path, body in routes:
            assert anonymous.request(method, path, json=body).status_code == 401, path
        assert anonymous.post("/templates", json={"url": "/tmp"}).status_code == 401
    with _http(world, world.outsider) as outsider:
        for method, path, body in routes:
            assert outsider.request(method, path, json=body).status_code == 403, path
    with _http(world, world.other_user) as other:
        assert other.get(f"/services/{guid}").status_code == 404  # not even shown to exist
        assert (
            other.post(f"/services/{guid}/task_list", json={"action_name": "add"}).status_code
            == 404
        )
        assert [s["name"] for s in other.get("/services").json()] == []
        assert other.delete(f"/services/{guid}").status_code == 404
        assert other.post("/templates", json={"url": "/tmp"}).status_code == 403
        assert other.get(f"/services/{guid}/logs").status_code == 404
        assert other.post("/templates/update", json={}).status_code == 403
        assert other.post("/templates/checkout", json={"url": "x", "ref": "m"}).status_code == 403
        clash = other.post("/services", json={"template": "counter", "name": "mine"})
        assert clash.status_code == 409
    with _http(world, secret=secret) as holder:
        assert holder.get(f"/services/{guid}").json()["name"] == "mine"
        task = holder.post(f"/services/{guid}/task_list", json={"action_name": "add"})
        assert task.status_code == 201
        assert holder.get(f"/services/{guid}/logs").status_code == 200
        assert holder.get(f"/services/{theirs['guid']}/logs").status_code == 404
        assert holder.post("/templates/update", json={}).status_code == 403
        assert holder.get(f"/services/{theirs['guid']}").status_code == 404
        assert [s["name"] for s in holder.get("/services").json()] == ["mine"]
        assert (
            holder.post("/services", json={"template": "counter", "name": "x"}).status_code == 403
        )
    with _http(world, world.user) as user:
        assert [s["name"] for s in user.get("/services").json()] == ["mine"]
        assert user.get(f"/services/{theirs['guid']}").status_code == 404
        assert user.post("/templates", json={"url": "/tmp"}).status_code == 403
    with _http(world, world.admin) as admin:
        assert sorted(s["name"] for s in admin.get("/services").json()) == ["admins", "mine"]
        assert admin.get(f"/services/{guid}/task_list/{task.json()['guid']}").status_code == 200
        added = admin.post("/templates", json={"url": "/nonexistent/folder"})
        assert added.status_code == 400
        assert admin.post("/templates/update", json={}).status_code == 200
        assert admin.post("/templates/checkout", json={"url": "x", "ref": "m"}).status_code == 404
        assert admin.get(f"/services/{guid}/logs").status_code == 200
        # webhooks answer to their signature only: this robot has no webhook secret
        assert admin.post("/webhooks/github", json={}).status_code == 403
        assert admin.delete(f"/services/{guid}").status_code == 204
    with _http(world, secret=secret) as holder:
        assert holder.get(f"/services/{guid}").status_code == 404
