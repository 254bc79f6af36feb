"""What a connection carries between commands: its :class:`Session`, a parked :class:`Waiter`,
and the :class:`Access` (NSSET lock and freeze) that the sessions of a namespace share."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...engine import Store

if TYPE_CHECKING:
    from .dispatch import Commands


ACCESS_OPEN = 0
ACCESS_LOCKED = 1
ACCESS_FROZEN = 2


@dataclass(slots=True, eq=False)
class Access:
    """NSSET lock/freeze of one namespace: runtime only, as in 0-db ("temporarily locked"),
    so a restart clears it; the commands keep it beside the engine's store, one per store."""

    state: int = ACCESS_OPEN  # ACCESS_OPEN, ACCESS_LOCKED or ACCESS_FROZEN
    by_admin: bool = False  # set by an admin: a reservation's owner can't lift it


@dataclass(slots=True, eq=False)
class Session:
    """What one connection has chosen and proven: namespace, admin rights, write access.

    ``commands`` is the state every connection shares; a handler reaches it from here, so
    that the handlers are plain functions of ``(session, args)``.
    """

    commands: Commands
    store: Store
    access: Access  # the store's (Commands.access_of): SET and GET test it inline
    admin: bool
    writable: bool = True
    nonce: str | None = None
    waiter: Waiter | Yield | None = None
    signed_nonce: str | None = None  # AUTH SIGNED CHALLENGE
    owner_of: str | None = None  # the reservation this session proved it owns
    owner_key: str | None = None
    address: str = "local"  # the client's IP address ("unix" on the unix socket)
    failures: int = 0  # wrong passwords on this connection
    push: Callable[[bytes], None] | None = None  # sends to the client unasked (MIRROR)

    def enter(self, store: Store, writable: bool) -> None:
        """Make ``store`` the session's namespace (SELECT, AUTH SIGNED)."""
        self.store, self.writable = store, writable
        self.access = self.commands.access_of(store)


@dataclass(slots=True, eq=False)
class Waiter:
    """A parked connection: a WAIT, or a password try whose reply waits (GuessThrottle).

    A WAIT fires when another client runs a matching command in the namespace; both send
    ``reply`` when ``timeout_ms`` passes first.
    """

    session: Session
    command: bytes  # canonical name, b"*" for any, b"" for a slowed password try
    timeout_ms: int
    on_fire: Callable[[bytes], None] | None = None
    fired: bool = field(default=False)
    reply: bytes = b"-Timeout\r\n"


class Yield:
    """A session's waiter after a command that walked far (SCAN, RSCAN): its reply goes out
    and the connection runs its next commands on a later turn of the event loop, after the
    other clients' (a pipeline of walks cannot hold them up for more than one walk)."""


YIELD = Yield()


@dataclass(slots=True)
class Stats:
    """Counters INFO reports."""

    boot_time: float = field(default_factory=time.time)
    clients_lifetime: int = 0
    commands_executed: int = 0
    commands_failed: int = 0
    commands_unauthorized: int = 0
    network_rx_bytes: int = 0
    network_tx_bytes: int = 0
    data_cuts: int = 0  # torn data tails cut when the namespaces opened (recovery.py)
    data_cut_bytes: int = 0


Handler = Callable[[Session, list[bytes]], bytes]

__all__ = [
    "ACCESS_FROZEN",
    "ACCESS_LOCKED",
    "ACCESS_OPEN",
    "YIELD",
    "Access",
    "Handler",
    "Session",
    "Stats",
    "Waiter",
    "Yield",
]
