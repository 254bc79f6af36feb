"""Defaults that zero-db's settings share with its engine and commands.

A module of its own so that loading the settings loads no engine: the C module is chosen
when the engine loads (native.py), after the settings say whether it may run.
"""

from __future__ import annotations

DEFAULT_DATASIZE = 256 * 1024 * 1024  # the size at which a new data file starts
DEFAULT_GRACE = 7 * 86400.0  # seconds an expired reservation stays read-only

__all__ = ["DEFAULT_DATASIZE", "DEFAULT_GRACE"]
