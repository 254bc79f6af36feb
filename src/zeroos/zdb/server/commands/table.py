"""The one command table: every name, its handler, its group, and the rules checked first.

As 0-db's daemon keeps its handlers in ``commands_*.c`` around one table, each group is a
module here (auth, get, set, scan, namespace, reservation, chain, system) and this table is
the only place that names them.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import auth, chain, get, namespace, reservation, scan, system
from . import set as set_
from .args import admin, need
from .session import Handler, Session


@dataclass(frozen=True, slots=True)
class Command:
    """One command: its canonical name, handler, and the checks run before the handler.

    ``admin``: refused with "Permission denied" to a session without admin rights (first).
    ``arity``: 0-db's exact count check (the name included, no argument empty), then.
    A command whose rules depend on its arguments (SET's timestamp, NSSET's owner) checks
    them itself.
    """

    name: bytes
    run: Handler
    admin: bool = False
    arity: int | None = None


def guarded(spec: Command) -> Handler:
    """The handler with the table's rules in front (the plain handler when it has none)."""
    run, arity = spec.run, spec.arity
    if not spec.admin and arity is None:
        return run
    needs_admin = spec.admin

    def checked(session: Session, args: list[bytes]) -> bytes:
        if needs_admin:
            admin(session)
        if arity is not None:
            need(args, arity)
        return run(session, args)

    return checked


TABLE: tuple[Command, ...] = (
    # system
    Command(b"PING", system.command_ping),
    Command(b"TIME", system.command_time),
    Command(b"INFO", system.command_info),
    Command(b"WAIT", system.command_wait),
    Command(b"MIRROR", system.command_mirror, admin=True),
    Command(b"STOP", system.command_stop, admin=True),
    # auth
    Command(b"AUTH", auth.command_auth),
    Command(b"HELLO", auth.command_hello),
    # namespaces
    Command(b"SELECT", namespace.command_select),
    Command(b"DBSIZE", namespace.command_dbsize),
    Command(b"NSNEW", namespace.command_nsnew, admin=True, arity=2),
    Command(b"NSDEL", namespace.command_nsdel, admin=True, arity=2),
    Command(b"NSLIST", namespace.command_nslist),
    Command(b"NSINFO", namespace.command_nsinfo, arity=2),
    Command(b"NSSET", namespace.command_nsset),
    Command(b"FLUSH", namespace.command_flush),
    Command(b"RELOAD", namespace.command_reload, admin=True, arity=2),
    # reservations
    Command(b"RESERVE", reservation.command_reserve, admin=True, arity=5),
    Command(b"RESERVATION", reservation.command_reservation, arity=4),
    # set
    Command(b"SET", set_.command_set),
    Command(b"DEL", set_.command_del),
    # get
    Command(b"GET", get.command_get),
    Command(b"MGET", get.command_mget),
    Command(b"EXISTS", get.command_exists),
    Command(b"CHECK", get.command_check),
    Command(b"LENGTH", get.command_length),
    Command(b"KEYTIME", get.command_keytime),
    # scan
    Command(b"SCAN", scan.command_scan),
    Command(b"SCANX", scan.command_scan),
    Command(b"RSCAN", scan.command_rscan),
    Command(b"KSCAN", scan.command_kscan),
    Command(b"KEYCUR", scan.command_keycur, arity=2),
    Command(b"HISTORY", scan.command_history),
    # the chain
    Command(b"CHAIN", chain.command_chain),
)

# what MIRROR forwards: the commands that change data or namespaces, when they succeed
MIRRORED = frozenset(
    {b"SET", b"DEL", b"FLUSH", b"NSNEW", b"NSDEL", b"NSSET", b"RESERVE", b"RESERVATION"}
)

__all__ = ["MIRRORED", "TABLE", "Command", "guarded"]
