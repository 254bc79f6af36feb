"""What the node's kvm.* commands stand on: the driver, a scratch folder, the shutdown wait."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .driver import VmDriver


@dataclass(frozen=True, slots=True)
class VmHost:
    """The node's VMs: ``driver`` runs them; boot files from flists are staged in ``scratch``
    (each create's own folder, removed once QEMU has read them)."""

    driver: VmDriver
    scratch: Path
    shutdown_timeout: float = 30.0  # seconds a guest has to power off before it is stopped


__all__ = ["VmHost"]
