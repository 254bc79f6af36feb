"""kvm.* and disk.list driven through PyPI's 0-core-client, on a real node running QEMU (TCG).

The guest (a Debian kernel, a busybox initramfs: zeroos.testing.guest) is built once per run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from zeroos.core0.client import Client, ResultError

from zeroos.node.vms import QemuDriver
from zeroos.testing import free_port
from zeroos.testing.guest import Guest, boot_flist
from zeroos.testing.vms import http_page, running

from .conftest import Node

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("qemu-system-x86_64") is None,
    reason="QEMU runs VMs as root (qemu-system-x86 from Debian: scripts/test.sh installs it)",
)

BOOT = 240.0  # seconds a TCG guest may take to boot on a loaded two-core machine
VM_FLAGS = ("--dev", "--vm-accel", "tcg", "--vm-shutdown-timeout", "60")


@pytest.fixture
def vm_node(start_node: Callable[..., Node]) -> Iterator[Callable[..., Node]]:
    """Start nodes that run VMs; every VM still there at the end is destroyed."""
    started: list[Node] = []

    def start(*args: str) -> Node:
        node = start_node(*VM_FLAGS, *args)
        started.append(node)
        return node

    yield start
    for node in started:
        driver = QemuDriver(node.data / "vms", "tcg")
        for vm in asyncio.run(driver.list()):
            asyncio.run(driver.destroy(vm.uuid))


def _console(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.2)


def test_a_vm_from_an_flist_boots_serves_and_outlives_the_node(
    vm_node: Callable[..., Node], vm_guest: Guest, tmp_path: Path
) -> None:
    node = vm_node()
    client = node.client()
    shared = tmp_path / "shared"
    shared.mkdir()
    port = free_port()
    uuid = client.json(
        "kvm.create",
        {
            "name": "guest",
            "flist": str(boot_flist(tmp_path, vm_guest)),
            "cpu": 1,
            "memory": 256,
            "nics": [{"type": "default"}],
            "port": {str(port): vm_guest.port},
            "mount": [{"source": str(shared), "target": "/share"}],
        },
    )
    info = client.kvm.info(uuid)
    assert info["name"] == "guest"
    assert info["state"] == "running"
    assert info["accel"] == "tcg"
    assert info["port"] == {str(port): vm_guest.port}
    assert Path(info["console"]).is_relative_to(node.data)
    assert [vm["uuid"] for vm in client.kvm.list()] == [uuid]
    _wait("the guest's marker", lambda: vm_guest.marker in _console(info["console"]), BOOT)
    assert (shared / vm_guest.share_file).read_text() == "written by the guest\n"
    _wait("the forwarded port", lambda: http_page(port) == vm_guest.page, 15)
    assert not list((node.data / "vm-boot").iterdir()), "the flist's boot files were left"

    client.kvm.pause(uuid)
    assert client.kvm.info(uuid)["state"] == "paused"
    client.kvm.resume(uuid)
    assert client.kvm.info(uuid)["state"] == "running"

    assert node.child.stop() == 0
    assert running(info["id"]), "the VM stopped with the node"
    again = vm_node("--data", str(node.data)).client()
    (adopted,) = again.kvm.list()
    assert adopted["uuid"] == uuid
    assert adopted["id"] == info["id"]
    assert http_page(port) == vm_guest.page

    again.kvm.shutdown(uuid)  # ACPI: the guest's acpid powers it off
    assert not running(info["id"])
    assert again.kvm.list() == []
    assert not (node.data / "vms" / uuid).exists()


def _error(call: Callable[[], Any]) -> str:
    with pytest.raises(ResultError) as raised:
        call()
    line = str(raised.value)
    assert line
    assert "\n" not in line
    return line


def test_bad_vms_get_one_clear_error_and_the_node_keeps_serving(
    vm_node: Callable[..., Node], vm_guest: Guest, tmp_path: Path
) -> None:
    node = vm_node()
    client = node.client()

    def create(**args: Any) -> Callable[[], Any]:
        return lambda: client.json("kvm.create", {"name": "bad", **args})

    bare = tmp_path / "bare"
    bare.mkdir()
    assert "no /boot/boot.yaml" in _error(
        create(flist=str(boot_flist(bare, vm_guest, boot_yaml=False)))
    )
    assert "no such flist file" in _error(create(flist=str(tmp_path / "nothing.fl")))
    junk = tmp_path / "junk"
    junk.write_bytes(b"no kernel here\n" * 64)
    assert "did not start" in _error(create(kernel=str(junk)))
    huge = psutil.virtual_memory().total // 2**20 * 2
    assert "does not fit this machine" in _error(
        create(kernel=str(vm_guest.kernel), initrd=str(vm_guest.initrd), memory=huge)
    )
    with socket.create_server(("0.0.0.0", 0)) as held:
        taken = held.getsockname()[1]
        line = _error(create(kernel=str(vm_guest.kernel), port={str(taken): 80}))
        assert "did not start" in line
        assert str(taken) in line
    assert "nothing to boot" in _error(create())
    assert "argument 'memory'" in _error(create(kernel=str(vm_guest.kernel), memory="lots"))
    assert "nic type 'bridge'" in _error(
        create(kernel=str(vm_guest.kernel), nics=[{"type": "bridge", "id": "br0"}])
    )
    assert "no VM" in _error(lambda: client.kvm.info("0b3ae5b8-1d7e-4c36-9c0b-5a3d6d0f4e11"))
    assert "no VM" in _error(lambda: client.kvm.destroy("../../etc"))
    assert client.kvm.list() == []
    assert list((node.data / "vms").iterdir()) == [], "a refused VM left files"
    assert client.ping() == "PONG"


def test_a_vm_from_a_qcow2_disk_and_a_port_forwarded_once(
    vm_node: Callable[..., Node], tmp_path: Path
) -> None:
    node = vm_node()
    client = node.client()
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    port = free_port()
    created = client.kvm.create("disk", [{"url": str(disk)}], cpu=1, memory=128, port={port: 22})
    uuid = json.loads(created.data)  # the client's create answers the job's result
    info = client.kvm.info(uuid)
    assert info["state"] == "running"
    assert str(disk) in [f.path for f in psutil.Process(info["id"]).open_files()]
    line = _error(
        lambda: client.kvm.create("again", [{"url": str(disk)}], memory=128, port={port: 22})
    )
    assert line == f"port {port} is already forwarded to VM 'disk'"
    client.kvm.destroy(uuid)
    assert not running(info["id"])
    assert client.kvm.list() == []
    assert list((node.data / "vms").iterdir()) == []


def test_disk_list_is_lsblks_json(client: Client) -> None:
    listed = client.disk.list()
    direct = subprocess.run(
        ["lsblk", "--json", "--output", "NAME,SIZE", "--bytes", "--exclude", "1,2"],
        capture_output=True,
        check=True,
        timeout=30,
    )
    expected = {(d["name"], d["size"]) for d in json.loads(direct.stdout)["blockdevices"]}
    assert {(d["name"], d["size"]) for d in listed["blockdevices"]} == expected
    assert all({"name", "type", "size", "mountpoint"} <= set(d) for d in listed["blockdevices"])
