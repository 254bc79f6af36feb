"""The VM drivers against their conformance suite (zeroos.testing.vms.check_driver), and the
suite against a driver with one bug. QEMU runs under TCG here: the issue's guests boot under
TCG, and this machine's /dev/kvm answers but QEMU's guests do not run on it (nested KVM); the
KVM probe of --vm-accel auto finds that out."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from zeroos.node.errors import VmError
from zeroos.node.vms import QemuDriver, VmInfo, VmSpec, detect_accel, kvm_works
from zeroos.node.vms.accel import TCG_ARGS, AccelChoice
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


needs_kvm_device = pytest.mark.skipif(
    not kvm_works("/dev/kvm"), reason="no /dev/kvm answering on this machine"
)


@needs_kvm_device
def test_kvm_asked_for_is_taken_as_it_is() -> None:
    assert detect_accel("kvm", "/dev/kvm") == "kvm"


@needs_kvm_device
@needs_qemu
def test_auto_takes_kvm_only_when_a_guest_runs_on_it(tmp_path: Path) -> None:
    # the probe's guest, run by real QEMU: under TCG it runs (so the probe says yes) ...
    class UnderTcg(AccelChoice):
        probe_args = TCG_ARGS

    assert UnderTcg("auto").accel() == "kvm"
    # ... a QEMU that fails says why (this host's nested KVM fails so with -cpu host) ...
    fails = tmp_path / "fails"
    fails.write_text("#!/bin/sh\necho 'qemu: error: failed to set MSR 0x10a' >&2; exit 134\n")
    fails.chmod(0o755)
    failed = AccelChoice("auto", "/dev/kvm", str(fails))
    assert failed.accel() == "tcg"
    assert (
        failed.reason() == "a test guest did not run on KVM: qemu: error: failed to set MSR 0x10a"
    )
    # ... and one whose guest hangs is given up on in time and stopped (a stand-in: KVM_RUN
    # hangs on some nested hosts, not on this one)
    hangs = tmp_path / "hangs"
    hangs.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/pid; exec sleep 600\n")
    hangs.chmod(0o755)
    started = time.monotonic()

    class Quick(AccelChoice):
        timeout = 1.5

    hung = Quick("auto", "/dev/kvm", str(hangs))
    assert hung.accel() == "tcg"
    assert time.monotonic() - started < 10
    assert hung.reason() == "a test guest did not run on KVM in 1.5 s"
    assert not Path(f"/proc/{(tmp_path / 'pid').read_text().strip()}").exists()


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
