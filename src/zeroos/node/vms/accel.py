"""Whether QEMU can use KVM here: /dev/kvm asked its API version, then a tiny guest run on it.

A /dev/kvm that answers is not enough: under nested virtualisation QEMU may fail to set up the
guest's CPU (here `-cpu host` dies on an MSR the outer hypervisor refuses) or its guest may never
run. So `auto` starts QEMU as the node would (`KVM_ARGS`) on a firmware of 64 KiB whose reset
vector writes 42 to an isa-debug-exit port, and takes KVM only when QEMU ends with that guest's
exit code within a short timeout; otherwise TCG, with the reason logged. The probe starts with
the node and is waited for at the first VM (`AccelChoice`), so a node does not start slower.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ...common.log import event
from ..errors import VmError

log = logging.getLogger("zeroos.node")

KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO, 0x00)
KVM_API_VERSION = 12  # the only version Linux has ever answered since 2.6.22
KVM_ARGS = ["-accel", "kvm", "-cpu", "host"]  # how the node runs guests on KVM
TCG_ARGS = ["-accel", "tcg"]
EXIT_PORT = 0xF4
# at the reset vector (0xFFFF0, the firmware's last 16 bytes): mov al, 42; out 0xf4, al; hlt
GUEST_CODE = bytes([0xB0, 0x2A, 0xE6, EXIT_PORT, 0xF4, 0xEB, 0xFE])
GUEST_EXIT = 42 << 1 | 1  # isa-debug-exit makes QEMU exit with (value << 1) | 1
QEMU = "qemu-system-x86_64"
KVM_DEVICE = "/dev/kvm"
PROBE_TIMEOUT = 10.0  # seconds QEMU has to run the guest (it needs a fraction of one)


def kvm_works(device: str = "/dev/kvm") -> bool:
    """True when ``device`` opens read-write and answers KVM_GET_API_VERSION with 12."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, KVM_GET_API_VERSION) == KVM_API_VERSION
    except OSError:
        return False
    finally:
        os.close(fd)


class AccelChoice:
    """The accelerator for ``wanted`` (auto, kvm, tcg): the probe started now, read later."""

    timeout = PROBE_TIMEOUT  # seconds QEMU has to run the test guest
    probe_args = KVM_ARGS  # what the probe's QEMU runs with (a test's subclass: TCG_ARGS)

    def __init__(self, wanted: str, device: str = KVM_DEVICE, binary: str = QEMU) -> None:
        self.wanted = wanted
        self._why: str | None = None
        self._accel: str | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._scratch: Path | None = None
        self._started = time.monotonic()
        if wanted == "tcg":
            self._accel = "tcg"
        elif not kvm_works(device):
            if wanted == "kvm":
                raise VmError(
                    f"KVM was asked for, but {device} does not work here: use --vm-accel auto"
                )
            self._accel, self._why = "tcg", f"{device} is missing or does not answer"
        elif wanted == "kvm":
            self._accel = "kvm"  # asked for: taken as it is
        else:
            self._start_probe(binary)

    def _start_probe(self, binary: str) -> None:
        self._scratch = Path(tempfile.mkdtemp(prefix="zos-kvm-probe-"))
        firmware = bytearray(b"\xf4" * 0x10000)  # hlt everywhere else
        firmware[0xFFF0 : 0xFFF0 + len(GUEST_CODE)] = GUEST_CODE
        (self._scratch / "probe.bin").write_bytes(firmware)
        argv = [
            binary,
            *self.probe_args,
            "-m",
            "16",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-bios",
            str(self._scratch / "probe.bin"),
            "-device",
            f"isa-debug-exit,iobase={EXIT_PORT:#x},iosize=0x04",
        ]
        try:
            self._child = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        except OSError as exc:
            self._accel, self._why = "tcg", f"cannot run {binary}: {exc.strerror or exc}"
            self._clean()

    def _clean(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def reason(self) -> str | None:
        """Why not KVM (None: KVM, or TCG as asked)."""
        self.accel()
        return self._why

    def accel(self) -> str:
        """``kvm`` or ``tcg``; the first call waits for the probe (at most its timeout)."""
        if self._accel is None:
            try:
                self._accel, self._why = self._wait()
            finally:
                self._clean()
            event(log, "vm_accel", accel=self._accel, asked=self.wanted, reason=self._why)
        return self._accel

    def _wait(self) -> tuple[str, str | None]:
        child = self._child
        if child is None:  # pragma: no cover - set whenever _accel is not
            raise VmError("no KVM probe was started")
        left = max(0.0, self.timeout - (time.monotonic() - self._started))
        try:
            _, err = child.communicate(timeout=left)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            return "tcg", f"a test guest did not run on KVM in {self.timeout:g} s"
        if child.returncode == GUEST_EXIT:
            return "kvm", None
        said = [line for line in err.decode(errors="replace").splitlines() if "error" in line]
        why = said[0] if said else f"QEMU ended with exit code {child.returncode}"
        return "tcg", f"a test guest did not run on KVM: {why}"

    def close(self) -> None:
        """Stop a probe still running (the node stops before its first VM)."""
        if self._child is not None and self._child.poll() is None:
            self._child.kill()
            self._child.wait()
        self._clean()


def detect_accel(wanted: str = "auto", device: str = KVM_DEVICE, binary: str = QEMU) -> str:
    """The accelerator to run guests with: ``kvm`` when asked or found running a guest, else
    ``tcg`` (the reason logged)."""
    return AccelChoice(wanted, device, binary=binary).accel()


__all__ = ["KVM_ARGS", "TCG_ARGS", "AccelChoice", "detect_accel", "kvm_works"]
