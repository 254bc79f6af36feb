"""The built-in node_vm template against a real `zos node serve --dev --vm-accel tcg` as root:
a blueprint boots the test guest (zeroos.testing.guest: a Debian kernel, a busybox initramfs)
from an flist; install is done once the guest's page answers on the forwarded port; stop,
start and uninstall leave no QEMU of the VM behind."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from zeroos.testing import free_port
from zeroos.testing.guest import Guest, boot_flist
from zeroos.testing.vms import http_page, running

from ..node.conftest import Node, start_node
from ..node.test_kvm import vm_node
from .conftest import RobotServer
from .test_builtin import _act, _apply, _installed

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("qemu-system-x86_64") is None,
    reason="QEMU runs VMs as root (qemu-system-x86 from Debian: scripts/test.sh installs it)",
)
__all__ = ["start_node", "vm_node"]  # fixtures

BOOT = 300.0  # seconds a task that boots a TCG guest may take on a loaded two-core machine


def _processes_naming(text: str) -> list[str]:
    """The processes whose command line holds ``text`` (a VM's uuid: QEMU's -uuid)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:
            continue  # the process ended meanwhile
    return found


@pytest.mark.timeout(900)  # two TCG boots (install, start) on a loaded machine
def test_the_node_vm_template_boots_a_guest_that_answers_and_leaves_no_qemu(
    robot_server: RobotServer,
    vm_node: Callable[..., Node],
    vm_guest: Guest,
    tmp_path: Path,
) -> None:
    node = vm_node()
    client = node.client()
    port = free_port()
    _apply(robot_server, tmp_path, {
        "services": [{"node_vm__guest": {
            "node": f"127.0.0.1:{node.port}", "flist": str(boot_flist(tmp_path, vm_guest)),
            "cpu": 1, "memory": 256, "ports": {port: vm_guest.port},
        }}],
        "actions": [{"template": "node_vm", "actions": ["install"]}],
    })  # fmt: skip
    with robot_server.http() as http:
        service, done = _installed(http, "guest", BOOT)
        assert done["state"] == "ok", done
        uuid = done["result"]
        # install was done only once the guest answered: its page is there at once
        assert http_page(port) == vm_guest.page
        info = client.kvm.info(uuid)
        assert (info["name"], info["cpu"], info["memory"]) == ("guest", 1, 256)
        assert info["port"] == {str(port): vm_guest.port}
        states = http.get(f"/services/{service['guid']}").json()["state"]
        assert {"category": "status", "tag": "running", "state": "ok"} in states

        _act(http, service, "stop", BOOT)  # ACPI: the guest powers off, the node forgets the VM
        assert not running(info["id"]), "stop left the VM's QEMU running"
        assert client.kvm.list() == []
        assert http_page(port) is None

        again = _act(http, service, "start", BOOT)["result"]  # created again, booted again
        assert again != uuid
        assert http_page(port) == vm_guest.page
        pid = client.kvm.info(again)["id"]

        _act(http, service, "uninstall", BOOT)
        logs = [line["message"] for line in http.get(f"/services/{service['guid']}/logs").json()]
    assert not running(pid), "uninstall left the VM's QEMU running"
    assert _processes_naming(uuid) == _processes_naming(again) == []
    assert client.kvm.list() == []
    assert list((node.data / "vms").iterdir()) == [], "uninstall left the VM's files"
    assert f"destroyed VM {again}" in logs


def test_a_refused_vm_fails_its_task_with_the_node_s_reason(
    robot_server: RobotServer, vm_node: Callable[..., Node], tmp_path: Path
) -> None:
    node = vm_node()
    _apply(robot_server, tmp_path, {
        "services": [{"node_vm__bad": {
            "node": f"127.0.0.1:{node.port}", "flist": str(tmp_path / "no-such.fl"),
            "ports": {free_port(): 80},
        }}],
        "actions": [{"template": "node_vm", "actions": ["install"]}],
    })  # fmt: skip
    with robot_server.http() as http:
        _, done = _installed(http, "bad")
        assert done["state"] == "error"
        assert "refused kvm.create" in str(done["error"])
        assert "no such flist file" in str(done["error"])
        # data that boots nothing, or two things, is refused before any VM is made
        for wrong, said in (({}, "an flist or a kernel"), ({"kernel": "/k"}, "an flist or")):
            data = {"node": f"127.0.0.1:{node.port}", "flist": "/f.fl", **wrong}
            if not wrong:
                del data["flist"]
            blueprint = {"services": [{"node_vm__wrong": data}]}
            answer = http.post(
                "/blueprints",
                content=yaml.safe_dump(blueprint).encode(),
                headers={"Content-Type": "application/yaml"},
            )
            assert answer.status_code == 400, answer.text
            assert said in answer.text
    assert node.client().kvm.list() == []
