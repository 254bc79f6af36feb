"""zero-db's command set: 0-db v2 semantics and error lines, on top of an :class:`Engine`.

One module per group of commands (auth, get, set, scan, namespace, reservation, chain,
system) around one table (:mod:`.table`); :class:`Commands` (:mod:`.dispatch`) holds what
every connection shares and runs a command through the table. Each handler takes the
session and the arguments and returns an encoded reply. Errors a client can cause are
:class:`ReplyError` carrying 0-db's exact line.
"""

from __future__ import annotations

from .dispatch import DEFAULT_GRACE, Commands
from .session import YIELD, Session, Stats, Waiter, Yield
from .table import TABLE, Command

__all__ = [
    "DEFAULT_GRACE",
    "TABLE",
    "YIELD",
    "Command",
    "Commands",
    "Session",
    "Stats",
    "Waiter",
    "Yield",
]
