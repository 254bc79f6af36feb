"""The robot's built-in template repository (``templates/``), loaded by default.

Its templates drive the real parts: ``zero_db`` runs a zero-db server on a node through the
node's 0-core protocol (``core.system``), ``zero_db_namespace`` makes a namespace on it with
our zero-db client.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent  # holds templates/<name>/<name>.py
PREFIX = "zeroos/builtin/templates"  # their UIDs: zeroos/builtin/templates/<name>/<version>

__all__ = ["PREFIX", "ROOT"]
