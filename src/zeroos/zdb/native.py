"""zero-db's C module (``_native``, built by setup.py when a compiler is there), or None.

chain/native.py, embedded/codec.py and protocol.py take their hot loops from it, and otherwise
run the same code in Python. ``ZOS_NO_NATIVE=1`` makes them run the Python code (to test it).
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Final

DISABLED: Final = os.environ.get("ZOS_NO_NATIVE") == "1"


def _load() -> ModuleType | None:
    if DISABLED:
        return None
    try:
        from . import _native
    except ImportError:
        return None
    return _native


c_module: Final = _load()
NATIVE: Final = c_module is not None  # whether the C code runs (the benchmarks say so)

__all__ = ["DISABLED", "NATIVE", "c_module"]
