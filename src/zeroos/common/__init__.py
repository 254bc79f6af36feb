"""The layer every part of zeroos stands on: errors, settings, logging, addresses, leases, services."""

from __future__ import annotations

from .errors import ZosError

__all__ = ["ZosError"]
