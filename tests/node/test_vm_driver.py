"""The VM drivers against their conformance suite (zeroos.testing.vms.check_driver), and the
suite against a driver with one bug. QEMU runs under TCG here: the issue's guests boot under
TCG, and this machine's /dev/kvm answers but its guests hang (nested KVM)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path

import pytest

from zeroos.node.errors import VmError
from zeroos.node.vms import QemuDriver, VmInfo, VmSpec, detect_accel, kvm_works
from zeroos.testing.guest import Guest
from zeroos.testing.vms import check_destroy, check_driver, running

needs_qemu = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("qemu-system-x86_64") is None,
    reason="QEMU runs VMs as root (qemu-system-x86 from Debian: scripts/test.sh installs it)",
)


def test_kvm_is_detected_by_its_api_version(tmp_path: Path) -> None:
    not_kvm = tmp_path / "kvm"
    not_kvm.write_bytes(b"")
    assert not kvm_works(str(tmp_path / "missing"))
    assert not kvm_works(str(not_kvm))
    assert not kvm_works("/dev/null")  # opens, but the ioctl fails
    assert detect_accel("auto", str(tmp_path / "missing")) == "tcg"
    assert detect_accel("auto", "/dev/null") == "tcg"
    assert detect_accel("tcg", "/dev/kvm") == "tcg"
    with pytest.raises(VmError, match="does not work"):
        detect_accel("kvm", "/dev/null")


@pytest.mark.skipif(not os.path.exists("/dev/kvm"), reason="no /dev/kvm on this machine")
def test_a_working_dev_kvm_is_taken() -> None:
    assert kvm_works("/dev/kvm")
    assert detect_accel("auto", "/dev/kvm") == "kvm"


@needs_qemu
def test_qemu_passes_the_driver_suite(tmp_path: Path, vm_guest: Guest) -> None:
    asyncio.run(check_driver(lambda root: QemuDriver(root, "tcg"), tmp_path / "vms", vm_guest))


class KeepsItsProcess(QemuDriver):
    """QEMU's driver with one bug: destroy removes the VM's files but leaves QEMU running."""

    started: list[int] = []

    async def create(self, spec: VmSpec) -> VmInfo:
        vm = await super().create(spec)
        self.started.append(vm.pid)
        return vm

    async def destroy(self, uuid: str) -> None:
        shutil.rmtree(self.root / uuid)


@needs_qemu
def test_the_suite_fails_a_driver_whose_destroy_leaves_qemu(
    tmp_path: Path, vm_guest: Guest
) -> None:
    try:
        with pytest.raises(AssertionError, match="left the VM's process"):
            asyncio.run(
                check_destroy(lambda root: KeepsItsProcess(root, "tcg"), tmp_path, vm_guest)
            )
    finally:
        for pid in KeepsItsProcess.started:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
