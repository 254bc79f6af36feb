"""The `zos` command line: one entry point (``zeroos.cli.main:main``), a sub-command per part.

``zos`` (the click group) loads on first use, not when this package is imported: ``python -m
zeroos.cli.main`` (how tests and scripts run the command line) imports this package first,
and runpy warns when the module it is about to run is already in ``sys.modules``.
"""

from __future__ import annotations

from ..common.lazy import lazy_exports

__all__ = ["zos"]

__getattr__ = lazy_exports(__name__, {"zos": ".main"})
