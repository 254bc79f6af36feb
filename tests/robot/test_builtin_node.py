"""The built-in node templates against a real `zos node serve --dev` as root: a blueprint
makes a container from the busybox flist the node tests build; uninstall leaves nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from zeroos.testing import free_port

from ..node.conftest import Node, start_node
from ..node.test_containers import (
    busybox_flist,
    container_node,
    leftovers,
    network_flags,
    run_inside,
)
from .conftest import RobotServer
from .test_builtin import _apply, _wait_all

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")
__all__ = ["busybox_flist", "container_node", "network_flags", "start_node"]  # fixtures


def test_the_node_container_template_makes_and_terminates_a_container(
    robot_server: RobotServer,
    container_node: Callable[..., Node],
    busybox_flist: Path,
    tmp_path: Path,
) -> None:
    node = container_node()
    client = node.client()
    port = free_port()
    _apply(robot_server, tmp_path, {
        "services": [{"node_container__box": {
            "node": f"127.0.0.1:{node.port}", "flist": str(busybox_flist),
            "hostname": "boxy", "env": {"GREETING": "hi"}, "ports": {port: 7000},
        }}],
        "actions": [{"template": "node_container", "actions": ["install"]}],
    })  # fmt: skip
    with robot_server.http() as http:
        service = {s["name"]: s for s in http.get("/services").json()}["box"]
        task = http.get(f"/services/{service['guid']}/task_list").json()[0]
        done = _wait_all(http, [task])[0]
        assert done["state"] == "ok", done
        n = int(done["result"])
        listed = client.container.list()[str(n)]["container"]["arguments"]
        assert listed["port"] == {str(port): 7000}
        code, out, err = run_inside(client, n, "hostname; echo $GREETING")
        assert code == 0, err
        assert out.split("\n")[:2] == ["boxy", "hi"]

        gone = http.post(
            f"/services/{service['guid']}/task_list", json={"action_name": "uninstall"}
        )
        assert _wait_all(http, [gone.json()])[0]["state"] == "ok"
    assert client.container.list() == {}
    assert leftovers(node) == []


def test_a_refused_container_fails_its_task_with_the_node_s_reason(
    robot_server: RobotServer, container_node: Callable[..., Node], tmp_path: Path
) -> None:
    node = container_node()
    _apply(robot_server, tmp_path, {
        "services": [{"node_container__bad": {
            "node": f"127.0.0.1:{node.port}", "flist": str(tmp_path / "no-such.fl"),
        }}],
        "actions": [{"template": "node_container", "actions": ["install"]}],
    })  # fmt: skip
    with robot_server.http() as http:
        service = {s["name"]: s for s in http.get("/services").json()}["bad"]
        task = http.get(f"/services/{service['guid']}/task_list").json()[0]
        done = _wait_all(http, [task])[0]
    assert done["state"] == "error"
    assert "refused corex.create" in str(done["error"])
    assert node.client().container.list() == {}
