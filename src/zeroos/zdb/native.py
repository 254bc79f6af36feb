"""zero-db's C module (``_native``, built by setup.py when a compiler is there), or None.

chain/native.py, embedded/codec.py and protocol.py take their hot loops from it, and otherwise
run the same code in Python. :func:`configure` with ``enabled=False`` makes them run the Python
code (to test it; ``zos zdb serve`` does so for the ``no_native`` setting, ``ZOS_NO_NATIVE=1``).
Those modules choose their functions once, when they load: the choice is made for the process
on the first use of ``c_module``, ``NATIVE`` or ``DISABLED``, and configure comes before it.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from .errors import ZdbError

if TYPE_CHECKING:
    c_module: ModuleType | None  # the C module, None when the Python code runs
    NATIVE: bool  # whether the C code runs (the benchmarks say so)
    DISABLED: bool  # whether configure turned it off (rather than it not being built)

_enabled = True
_chosen: dict[str, Any] = {}


def configure(*, enabled: bool) -> None:
    """Whether the C module may run in this process; call it before zero-db's engines load."""
    global _enabled
    if _chosen and enabled != _enabled:
        raise ZdbError(
            "the C module was chosen already (zeroos.zdb's engines are loaded): "
            "configure it before importing them"
        )
    _enabled = enabled


def _choose() -> dict[str, Any]:
    if not _chosen:
        module: ModuleType | None = None
        if _enabled:
            try:
                from . import _native as module
            except ImportError:
                module = None
        _chosen.update(c_module=module, NATIVE=module is not None, DISABLED=not _enabled)
    return _chosen


def __getattr__(name: str) -> Any:
    if name in ("c_module", "NATIVE", "DISABLED"):
        return _choose()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DISABLED", "NATIVE", "c_module", "configure"]
