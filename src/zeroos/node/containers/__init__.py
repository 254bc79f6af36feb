"""Containers of the node: flist roots, an OCI runtime, bridges and port forwards."""

from __future__ import annotations

from .runtime import RUNTIMES, OciCli, Runtime, RuntimeFailure, State, open_runtime
from .spec import Limits

__all__ = [
    "RUNTIMES",
    "Limits",
    "OciCli",
    "Runtime",
    "RuntimeFailure",
    "State",
    "open_runtime",
]
