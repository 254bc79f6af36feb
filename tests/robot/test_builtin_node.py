"""The built-in node templates against a real `zos node serve --dev` as root: a blueprint
makes a container from the busybox flist the node tests build; uninstall leaves nothing."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
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
from .test_builtin import _act, _apply, _installed

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")
__all__ = ["busybox_flist", "container_node", "network_flags", "start_node"]  # fixtures


def _fetch(url: str, deadline: float) -> bytes:
    """GET ``url`` until it answers 200 (the server in the container starts) or ``deadline``."""
    while True:
        try:
            got = httpx.get(url, timeout=5)
            if got.status_code == 200:
                return got.content
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer"
        time.sleep(0.1)


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


# the container's process: count its starts in the node's folder, serve /etc over HTTP
INIT = [
    "/bin/sh", "-c",
    "echo $GREETING >> /data/starts; trap 'kill $!; exit 0' TERM;"
    " busybox httpd -f -p 7000 -h /etc & wait",
]  # fmt: skip


def test_the_node_container_template_serves_through_its_forward_stops_and_starts(
    robot_server: RobotServer,
    container_node: Callable[..., Node],
    busybox_flist: Path,
    tmp_path: Path,
) -> None:
    node = container_node()
    client = node.client()
    port = free_port()
    kept = tmp_path / "kept"
    kept.mkdir()
    _apply(robot_server, tmp_path, {
        "services": [{"node_container__box": {
            "node": f"127.0.0.1:{node.port}", "flist": str(busybox_flist),
            "hostname": "boxy", "env": {"GREETING": "hi"}, "ports": {port: 7000},
            "mounts": {str(kept): "/data"}, "init": INIT,
        }}],
        "actions": [{"template": "node_container", "actions": ["install"]}],
    })  # fmt: skip
    motd = f"http://127.0.0.1:{port}/motd"
    with robot_server.http() as http:
        service, done = _installed(http, "box")
        assert done["state"] == "ok", done
        n = int(done["result"])
        listed = client.container.list()[str(n)]["container"]["arguments"]
        assert listed["port"] == {str(port): 7000}
        code, out, err = run_inside(client, n, "hostname; echo $GREETING")
        assert code == 0, err
        assert out.split("\n")[:2] == ["boxy", "hi"]
        # from the host, through the node's forward, to the server in the container
        assert _fetch(motd, time.monotonic() + 30) == b"hello from the flist\n"
        _act(http, service, "stop")
        assert client.container.list() == {}
        assert _refused(port), "the forward still answers after stop"
        # made again: the node cannot stop a container and keep it
        again = int(_act(http, service, "start")["result"])
        assert str(again) in client.container.list()
        assert _fetch(motd, time.monotonic() + 30) == b"hello from the flist\n"
        assert (kept / "starts").read_text() == "hi\nhi\n"  # its mounted folder outlived stop
        _act(http, service, "uninstall")
    assert client.container.list() == {}
    assert _refused(port)
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
        _, done = _installed(http, "bad")
    assert done["state"] == "error"
    assert "refused corex.create" in str(done["error"])
    assert node.client().container.list() == {}
