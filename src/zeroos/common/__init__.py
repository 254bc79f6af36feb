"""The layer every part stands on: errors, settings, logging, addresses, leases, services."""

from __future__ import annotations

from .errors import ZosError

__all__ = ["ZosError"]
