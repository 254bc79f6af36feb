"""The state every connection shares, and the dispatch of one command through the table."""

from __future__ import annotations

import secrets
import time
import weakref
from collections.abc import Callable

from ...chain.leaf import OP_EXPIRE, OP_RELEASE
from ...defaults import DEFAULT_GRACE
from ...engine import Engine, Store
from ...errors import (
    EXPIRED,
    FROZEN,
    INTERNAL_ERROR,
    LOCKED,
    NS_GONE,
    NS_NOT_FOUND,
    PERMISSION_DENIED,
    READ_ONLY,
    RELEASED,
    CorruptData,
    ReplyError,
    StorageError,
)
from ...namespace import DEFAULT_NAMESPACE, Mode, NamespaceSettings, valid_name
from ...protocol import NIL, array, bulk, integer
from ..throttle import GuessThrottle
from .args import NAMESPACE_MAX
from .session import ACCESS_FROZEN, ACCESS_LOCKED, Access, Handler, Session, Stats, Waiter
from .table import MIRRORED, TABLE, guarded

_INTERNAL = INTERNAL_ERROR.encode() + b": "


class Commands:
    """The command table and the state shared by every connection."""

    def __init__(
        self,
        engine: Engine,
        *,
        admin_password: str | None = None,
        mode: Mode | None = None,
        instance_id: int | None = None,
        grace: float = DEFAULT_GRACE,
    ) -> None:
        self.engine = engine
        self.grace = grace
        self.admin_password = admin_password or None
        self.fixed_mode = mode
        self.stats = Stats()
        self.instance_id = instance_id if instance_id is not None else secrets.randbits(32)
        # parked WAITs by namespace name; the same dict for the server's lifetime, so that a
        # connection can keep it and test it for emptiness per command
        self.waiters: dict[str, list[Waiter]] = {}
        default = engine.open(DEFAULT_NAMESPACE)
        if default is None:
            default = engine.create(DEFAULT_NAMESPACE, NamespaceSettings(mode=mode or "user"))
        elif mode is not None and default.settings.mode != mode:
            default.settings.mode = mode
            default.save_settings()
        self.default = default
        self.throttle = GuessThrottle()
        self.sessions: set[Session] = set()  # every connected client's (RELOAD moves them)
        # MIRROR sessions; the same list for the server's lifetime, tested per command
        self.mirrors: list[Session] = []
        self.on_stop: Callable[[], None] | None = None  # the server's, for STOP
        self.reserved: set[str] = set()  # the namespaces tick() checks
        # each store's lock/freeze; a store the engine let go of takes its own along
        self._access: weakref.WeakKeyDictionary[Store, Access] = weakref.WeakKeyDictionary()
        for name in engine.namespaces():
            try:
                store = engine.open(name)
            except (StorageError, CorruptData):
                continue  # a namespace that can't open now answers an error line when used
            if store is not None:
                self.stats.data_cuts += store.faults.cuts
                self.stats.data_cut_bytes += store.faults.cut_bytes
            if store is not None and store.settings.owner:
                self.reserved.add(name)
        # the canonical (upper-case) names, their rules applied (table.guarded)
        self.table: dict[bytes, Handler] = {spec.name: guarded(spec) for spec in TABLE}
        # what clients send is upper or lower case: look those up without .upper()
        self.handlers: dict[bytes, Handler] = dict(self.table)
        self.handlers.update({name.lower(): fn for name, fn in self.table.items()})

    # -- sessions and dispatch --------------------------------------------------------------
    def new_session(self, address: str = "local") -> Session:
        """A connection's session; ``address`` is whose password failures it shares."""
        self.stats.clients_lifetime += 1
        session = Session(
            self,
            self.default,
            self.access_of(self.default),
            admin=self.admin_password is None,
            address=address,
        )
        self.sessions.add(session)
        return session

    def end_session(self, session: Session) -> None:
        """Forget a session whose connection closed."""
        self.sessions.discard(session)
        if session in self.mirrors:
            self.mirrors.remove(session)

    def execute(self, session: Session, args: list[bytes]) -> bytes:
        """Run one command and return its encoded reply (errors included).

        The server inlines the common case, where this is all execute does: a name found in
        :attr:`handlers`, a live namespace, no WAIT parked (``waiters`` empty), so the handler
        runs, errors go through :meth:`failed`, and ``stats.commands_executed`` counts it.
        """
        stats = self.stats
        stats.commands_executed += 1
        name = args[0]
        handler = self.handlers.get(name)
        if handler is None:
            name = name.upper()
            handler = self.table.get(name)
            if handler is None:
                stats.commands_failed += 1
                if session.store.dropped:
                    raise ReplyError(NS_GONE, close=True)
                if not name:
                    return b"-This is not a valid command\r\n"
                return b"-Command not supported\r\n"
        if session.store.dropped:
            raise ReplyError(NS_GONE, close=True)
        try:
            reply = handler(session, args)
        except (ReplyError, CorruptData, StorageError) as exc:
            reply = self.failed(session, exc)
        if self.waiters:
            self._notify(session, name.upper())
        if self.mirrors and reply[:1] != b"-" and reply != NIL:
            self._mirror(session, name.upper(), args)
        return reply

    def failed(self, session: Session, exc: ReplyError | CorruptData | StorageError) -> bytes:
        """The reply for a handler's error; re-raises a ReplyError that closes the connection."""
        if isinstance(exc, ReplyError):
            if exc.line == PERMISSION_DENIED:
                self.stats.commands_unauthorized += 1
            if exc.close:
                raise exc
            return b"-" + exc.line.encode() + b"\r\n"
        if isinstance(exc, CorruptData):
            session.store.faults.data_faults += 1
        else:
            session.store.faults.io_error(str(exc))
        return b"-" + _INTERNAL + str(exc).encode("utf-8", "replace") + b"\r\n"

    # -- a namespace's lock and freeze -------------------------------------------------------
    def access_of(self, store: Store) -> Access:
        """The lock/freeze of a store, shared by every session in it."""
        access = self._access.get(store)
        if access is None:
            access = self._access[store] = Access()
        return access

    def replaced(self, old: Store, new: Store) -> None:
        """Move the users of a store RELOAD replaced to the new one; its lock stays."""
        access = self._access.pop(old, None)
        if access is not None:
            self._access[new] = access
        for session in self.sessions:
            if session.store is old:
                session.store = new
        if old is self.default:
            self.default = new

    # -- what several groups check ----------------------------------------------------------
    def writable(self, session: Session) -> Store:
        """The session's namespace, or the line why it may not write there now."""
        store = session.store
        if not session.writable:
            raise ReplyError(READ_ONLY)
        access = session.access.state
        if access == ACCESS_FROZEN:
            raise ReplyError(FROZEN)
        if access == ACCESS_LOCKED:
            raise ReplyError(LOCKED)
        if store.settings.state:
            self.check_reservation(store, time.time())
            state = store.settings.state
            if state == "expired":
                raise ReplyError(EXPIRED)
            if state == "released":
                raise ReplyError(RELEASED)
            if session.owner_of == store.name and session.owner_key != store.settings.owner:
                raise ReplyError(PERMISSION_DENIED)  # the owner transferred it since
        return store

    def lookup(self, raw: bytes) -> Store:
        """An existing namespace by its name argument."""
        try:
            name = raw.decode()
        except UnicodeDecodeError:
            raise ReplyError(NS_NOT_FOUND) from None
        store = self.engine.open(name) if valid_name(name) else None
        if store is None:
            raise ReplyError(NS_NOT_FOUND)
        return store

    def new_name(self, raw: bytes) -> str:
        """A name argument for a namespace to create: allowed and not taken."""
        if len(raw) > NAMESPACE_MAX:
            raise ReplyError("Namespace too long")
        try:
            name = raw.decode()
        except UnicodeDecodeError:
            raise ReplyError("This name is not allowed") from None
        if name == DEFAULT_NAMESPACE or not valid_name(name):
            raise ReplyError("This name is not allowed")
        if self.engine.open(name) is not None:
            raise ReplyError("This namespace is not available")
        return name

    # -- reservations' clock ----------------------------------------------------------------
    def check_reservation(self, store: Store, now: float) -> None:
        """Expire a reservation past its time, release its data after the grace period."""
        s = store.settings
        if not s.owner or not s.expiry or store.dropped:
            return
        if s.state == "active" and now >= s.expiry:
            s.state = "expired"
            store.save_settings()
            if store.chain is not None:
                store.chain.event(OP_EXPIRE, b"expiry", extra=b"%d" % s.expiry)
        if s.state == "expired" and now >= s.expiry + self.grace:
            # the data goes first (FLUSH is crash-safe); a crash before the RELEASE leaf only
            # means the next tick releases again
            store.clear()
            if store.chain is not None:
                store.chain.event(OP_RELEASE, b"expiry", extra=b"%d" % s.expiry)
            s.state = "released"
            store.save_settings()

    def tick(self, now: float | None = None) -> None:
        """Check every reservation's expiry (the server calls this every second)."""
        now = time.time() if now is None else now
        for name in sorted(self.reserved):
            store = self.engine.open(name)
            if store is None:
                self.reserved.discard(name)
                continue
            self.check_reservation(store, now)

    # -- MIRROR and WAIT: what a command tells the other connections ------------------------
    def _mirror(self, session: Session, name: bytes, args: list[bytes]) -> None:
        """Send a write that succeeded to every mirror but its author, as 0-db frames it."""
        if name not in MIRRORED:
            return
        frame = array(
            [
                integer(int(time.time())),
                bulk(session.store.name.encode()),
                integer(self.instance_id),
                bulk(name),
                *[bulk(arg) for arg in args[1:]],
            ]
        )
        for mirror in self.mirrors:
            if mirror is not session and mirror.push is not None:
                mirror.push(frame)

    def _notify(self, session: Session, name: bytes) -> None:
        waiters = self.waiters.get(session.store.name)
        if not waiters:
            return
        if name not in self.table:
            return
        canonical = b"SCAN" if name == b"SCANX" else name
        keep: list[Waiter] = []
        for waiter in waiters:
            if waiter.session is not session and waiter.command in (b"*", canonical):
                waiter.fired = True
                if waiter.on_fire is not None:
                    waiter.on_fire(b"+" + canonical + b"\r\n")
            else:
                keep.append(waiter)
        if keep:
            self.waiters[session.store.name] = keep
        else:
            del self.waiters[session.store.name]

    def park(self, waiter: Waiter) -> None:
        """Register a WAIT; the server calls :meth:`unpark` on timeout or disconnect."""
        self.waiters.setdefault(waiter.session.store.name, []).append(waiter)

    def unpark(self, waiter: Waiter) -> None:
        """Forget a WAIT that fired, timed out or whose connection closed."""
        waiters = self.waiters.get(waiter.session.store.name)
        if waiters and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self.waiters[waiter.session.store.name]


__all__ = ["DEFAULT_GRACE", "Commands"]
