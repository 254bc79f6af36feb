"""Containers of the node: flist roots, an OCI runtime, bridges and port forwards."""

from __future__ import annotations

from .manager import DEFAULT_INIT, Containers, Record
from .runtime import RUNTIMES, OciCli, Runtime, RuntimeFailure, State, open_runtime
from .spec import Limits

__all__ = [
    "DEFAULT_INIT",
    "RUNTIMES",
    "Containers",
    "Limits",
    "OciCli",
    "Record",
    "Runtime",
    "RuntimeFailure",
    "State",
    "open_runtime",
]
