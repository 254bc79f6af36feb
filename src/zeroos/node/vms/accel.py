"""Whether QEMU can use KVM here: /dev/kvm opened and asked its API version."""

from __future__ import annotations

import fcntl
import os

from ..errors import VmError

KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO, 0x00)
KVM_API_VERSION = 12  # the only version Linux has ever answered since 2.6.22


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


def detect_accel(wanted: str = "auto", device: str = "/dev/kvm") -> str:
    """The accelerator to run guests with: ``kvm`` when asked or found working, else ``tcg``."""
    if wanted == "tcg":
        return "tcg"
    works = kvm_works(device)
    if wanted == "kvm" and not works:
        raise VmError(f"KVM was asked for, but {device} does not work here: use --vm-accel auto")
    return "kvm" if works else "tcg"


__all__ = ["detect_accel", "kvm_works"]
