"""The seam between the node and a hypervisor: what a VM is asked to be, and what drives it.

QEMU drives the node's VMs (:mod:`.qemu`); VirtualBox is to drive them for ``zos env`` on a
laptop. Both take a :class:`VmSpec` (boot files or a disk, cpu, memory, TCP port forwards,
host folders) and answer with :class:`VmInfo`; every driver passes one conformance suite,
:func:`zeroos.testing.vms.check_driver`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# the states a driver reports (libvirt's words, as 0-core's kvm.list shows them)
RUNNING, PAUSED, SHUTDOWN, CRASHED = "running", "paused", "shutdown", "crashed"


@dataclass(frozen=True, slots=True)
class Share:
    """A host folder the guest mounts (9p for QEMU, a shared folder for VirtualBox)."""

    source: Path
    target: str  # where the guest is meant to mount it (told to it, not enforced)
    readonly: bool = False


@dataclass(frozen=True, slots=True)
class Disk:
    """A disk image (qcow2 or raw, or a URL QEMU opens itself, nbd+unix://) or a cdrom."""

    url: str
    cdrom: bool = False


@dataclass(frozen=True, slots=True)
class VmSpec:
    """What a VM is to be: boot files (kernel + initrd) and/or disks, size, ports, folders."""

    name: str
    cpu: int = 1
    memory: int = 512  # MiB
    kernel: Path | None = None
    initrd: Path | None = None
    cmdline: str = ""
    disks: tuple[Disk, ...] = ()
    ports: dict[int, int] = field(default_factory=dict)  # host TCP port -> guest TCP port
    shares: tuple[Share, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VmInfo:
    """A VM as a driver sees it now."""

    uuid: str
    name: str
    state: str  # RUNNING, PAUSED, SHUTDOWN, CRASHED or the driver's own word
    cpu: int
    memory: int
    accel: str  # how the guest's CPU runs: kvm, tcg (QEMU), or the driver's word
    pid: int  # the hypervisor process of this VM
    console: Path  # the guest's serial console, as a file
    ports: dict[int, int]
    shares: tuple[Share, ...] = ()
    tags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The VM as kvm.list and kvm.info answer (0-core's Machine fields first)."""
        return {
            "id": self.pid,
            "uuid": self.uuid,
            "name": self.name,
            "state": self.state,
            "vnc": -1,
            "tags": list(self.tags),
            "cpu": self.cpu,
            "memory": self.memory,
            "accel": self.accel,
            "console": str(self.console),
            "port": {str(host): guest for host, guest in self.ports.items()},
            "mount": [
                {"source": str(s.source), "target": s.target, "readonly": s.readonly}
                for s in self.shares
            ],
        }


class VmDriver(Protocol):
    """Creates and drives VMs whose state lives on disk, so that a new driver over the same
    folder (after a restart of the node) finds the VMs still running and drives them."""

    async def create(self, spec: VmSpec) -> VmInfo:
        """Start a VM; VmError with one line when it cannot (and nothing is left behind)."""
        ...

    async def list(self) -> list[VmInfo]: ...

    async def info(self, uuid: str) -> VmInfo:
        """The VM ``uuid``; VmNotFound when there is none."""
        ...

    async def pause(self, uuid: str) -> None: ...

    async def resume(self, uuid: str) -> None: ...

    async def reboot(self, uuid: str) -> None: ...

    async def shutdown(self, uuid: str, timeout: float) -> bool:
        """Ask the guest to power off (ACPI); after ``timeout`` seconds, stop it anyway.

        The VM is gone afterwards (as destroy leaves it); True when the guest powered off.
        """
        ...

    async def destroy(self, uuid: str) -> None:
        """Stop the VM at once and remove everything of it: process, sockets, files."""
        ...


__all__ = [
    "CRASHED",
    "PAUSED",
    "RUNNING",
    "SHUTDOWN",
    "Disk",
    "Share",
    "VmDriver",
    "VmInfo",
    "VmSpec",
]
