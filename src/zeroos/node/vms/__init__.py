"""The node's VMs: one driver protocol (:class:`VmDriver`), QEMU its driver here."""

from .accel import detect_accel, kvm_works
from .driver import Disk, Share, VmDriver, VmInfo, VmSpec
from .host import VmHost
from .qemu import QemuDriver

__all__ = [
    "Disk",
    "QemuDriver",
    "Share",
    "VmDriver",
    "VmHost",
    "VmInfo",
    "VmSpec",
    "detect_accel",
    "kvm_works",
]
