"""The `zos` command line: one entry point (``zeroos.cli.main:main``), a sub-command per part.

``zos`` (the click group) loads on first use, not when this package is imported: ``python -m
zeroos.cli.main`` (how tests and scripts run the command line) imports this package first,
and runpy warns when the module it is about to run is already in ``sys.modules``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["zos"]


def __getattr__(name: str) -> Any:
    if name == "zos":
        return importlib.import_module(".main", __name__).zos
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
