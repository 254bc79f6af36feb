"""Names a package exports but imports only on first use (PEP 562), so importing it stays light."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A ``__getattr__`` for ``package``: each name of ``table`` imported from its submodule
    (relative, e.g. ``".main"``) when first asked for, then kept in the package.

    ``__getattr__ = lazy_exports(__name__, {"run": ".main"})``
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # the next access skips this function
        return value

    return __getattr__
