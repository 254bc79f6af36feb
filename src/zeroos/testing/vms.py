"""The conformance suite of the node's VM drivers (:class:`zeroos.node.vms.VmDriver`).

``await check_driver(make, root, guest)`` boots the test guest (:mod:`zeroos.testing.guest`)
on drivers ``make(root)`` builds: called again with the same root, ``make`` must give a driver
that finds the VMs the first one started (the node restarted). It checks, in this order (the
quick ones first):

- refusals: a kernel that is not one, more memory than the machine has, an unknown uuid;
  each a VmError, nothing left behind;
- destroy: the hypervisor process ends and nothing is left under ``root``;
- a VM's life: the guest's marker on its console, its file in the shared host folder, its
  HTTP page on the forwarded port, a second VM on the same host port refused (and one on a
  port another process holds), reboot (the marker again), pause and resume (the state),
  re-adoption by a new driver, and shutdown (ACPI: the guest powers off; the process ends).
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from ..node.errors import VmError, VmNotFound
from ..node.vms.driver import PAUSED, RUNNING, Share, VmDriver, VmInfo, VmSpec
from . import free_port
from .guest import Guest

DriverMaker = Callable[[Path], VmDriver]
"""``make(root)``: a driver keeping its VMs' state under ``root``."""


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def leftovers(root: Path) -> list[Path]:
    return sorted(root.rglob("*")) if root.exists() else []


async def _poll(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.2)


def http_page(port: int) -> str | None:
    """What ``GET http://127.0.0.1:port/`` answers (None: nothing, or not HTTP)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
            return str(reply.read().decode())
    except OSError:
        return None


def _markers(vm: VmInfo, marker: str) -> int:
    try:
        return vm.console.read_text(errors="replace").count(marker)
    except FileNotFoundError:
        return 0


def guest_spec(guest: Guest, name: str, **fields: object) -> VmSpec:
    """A spec booting ``guest`` (fields as VmSpec's: ports, shares, memory...)."""
    spec = VmSpec(name=name, kernel=guest.kernel, initrd=guest.initrd, cmdline=guest.cmdline)
    return dataclasses.replace(spec, **fields)  # type: ignore[arg-type]


async def check_refusals(make: DriverMaker, root: Path, guest: Guest) -> None:
    driver = make(root)
    with tempfile.TemporaryDirectory() as scratch:
        bad = Path(scratch) / "not-a-kernel"
        bad.write_bytes(b"this is no kernel\n" * 100)
        too_big = psutil.virtual_memory().total // 2**20 + 1024
        for spec in (VmSpec("bad-kernel", kernel=bad), guest_spec(guest, "big", memory=too_big)):
            with pytest.raises(VmError, match=r"\A[^\n]+\Z"):  # one clear line
                await driver.create(spec)
    assert await driver.list() == [], "a refused VM is listed"
    assert leftovers(root) == [], f"a refused VM left files: {leftovers(root)}"
    with pytest.raises(VmNotFound):
        await driver.info("0b3ae5b8-1d7e-4c36-9c0b-5a3d6d0f4e11")


async def check_destroy(make: DriverMaker, root: Path, guest: Guest) -> None:
    driver = make(root)
    vm = await driver.create(guest_spec(guest, "destroyed", ports={free_port(): guest.port}))
    assert running(vm.pid), "the VM's process does not run after create"
    assert [v.uuid for v in await driver.list()] == [vm.uuid]
    await driver.destroy(vm.uuid)
    assert not running(vm.pid), f"destroy left the VM's process {vm.pid} running"
    assert await driver.list() == [], "a destroyed VM is listed"
    assert leftovers(root) == [], f"destroy left files: {leftovers(root)}"


async def check_life(make: DriverMaker, root: Path, guest: Guest, boot_timeout: float) -> None:
    driver = make(root)
    port = free_port()
    with tempfile.TemporaryDirectory() as shared:
        vm = await driver.create(
            guest_spec(
                guest, "life", ports={port: guest.port}, shares=(Share(Path(shared), "/share"),)
            )
        )
        try:
            assert vm.state == RUNNING, vm
            assert vm.ports == {port: guest.port}, vm
            with pytest.raises(VmError, match=f"port {port}"):
                await driver.create(guest_spec(guest, "same-port", ports={port: guest.port}))
            with socket.create_server(("0.0.0.0", 0)) as held:
                taken = held.getsockname()[1]
                with pytest.raises(VmError, match="did not start"):
                    await driver.create(guest_spec(guest, "held-port", ports={taken: guest.port}))
            assert [v.uuid for v in await driver.list()] == [vm.uuid], "a refused VM is listed"
            await _poll(
                "the guest's marker on its console",
                lambda: _markers(vm, guest.marker) > 0,
                boot_timeout,
            )
            written = Path(shared) / guest.share_file
            assert written.is_file(), "the guest's file is not in the shared folder"
            await _poll(
                f"the guest's page on forwarded port {port}",
                lambda: http_page(port) == guest.page,
                15,
            )
            await driver.reboot(vm.uuid)
            await _poll(
                "the marker after reboot", lambda: _markers(vm, guest.marker) > 1, boot_timeout
            )
            await driver.pause(vm.uuid)
            assert (await driver.info(vm.uuid)).state == PAUSED, "pause: the VM is not paused"
            await driver.resume(vm.uuid)
            assert (await driver.info(vm.uuid)).state == RUNNING, "resume: the VM does not run"
            again = make(root)  # the node restarted
            found = {v.uuid: v for v in await again.list()}
            assert vm.uuid in found, "a new driver lost the VM"
            assert found[vm.uuid].pid == vm.pid
            assert found[vm.uuid].state == RUNNING
            assert await again.shutdown(vm.uuid, boot_timeout), "the guest did not power off"
            assert not running(vm.pid), "shutdown left the VM's process running"
            assert await again.list() == [], "a VM shut down is listed"
            assert leftovers(root) == [], "shutdown left files"
        finally:
            for left in await make(root).list():
                await make(root).destroy(left.uuid)


async def check_driver(
    make: DriverMaker, root: Path, guest: Guest, boot_timeout: float = 240.0
) -> None:
    """Every check above, in turn, on drivers ``make(root)`` builds (``root`` empty at first)."""
    await check_refusals(make, root, guest)
    await check_destroy(make, root, guest)
    await check_life(make, root, guest, boot_timeout)


__all__ = [
    "DriverMaker",
    "check_destroy",
    "check_driver",
    "check_life",
    "check_refusals",
    "http_page",
    "leftovers",
    "running",
]
