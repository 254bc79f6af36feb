"""zero-db's command set: 0-db v2 semantics and error lines, on top of an :class:`Engine`.

Each handler takes the session and the arguments and returns an encoded reply. Errors a
client can cause are :class:`ReplyError` carrying 0-db's exact line.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .._version import __version__
from ..common.log import event
from .chain.leaf import OP_EXPIRE, OP_NSSET, OP_RELEASE, OP_RESERVATION, OP_RESERVE, OP_SET
from .chain.signing import SignatureError, SignedHead, auth_message, public_key_from_hex
from .chain.signing import verify_signature as _verify_signature
from .engine import ACCESS_FROZEN, ACCESS_LOCKED, ACCESS_OPEN, Engine, Store
from .errors import CorruptData, ReplyError, StorageError
from .namespace import DEFAULT_NAMESPACE, Mode, NamespaceSettings, valid_name
from .native import NATIVE
from .protocol import (
    BULK_HEADS,
    CRLF,
    MAX_KEY,
    NIL,
    OK,
    ONE,
    SHORT_BULK,
    ZERO,
    array,
    bulk,
    integer,
    simple,
)
from .throttle import GuessThrottle

SEQ_KEY_SIZE = 8
NAMESPACE_MAX = 128
SCAN_BATCH = 100
# Versions one SCAN/RSCAN may look at (a few ms) before it answers: past a long run of
# overwritten keys it answers fewer entries, even none, with the cursor where it stopped.
SCAN_WALK = 4096
WAIT_DEFAULT_MS = 5000
WAIT_MIN_MS = 100
WAIT_MAX_MS = 30 * 60 * 1000

FROZEN = "Namespace is temporarily frozen (read-write disabled)"
LOCKED = "Namespace is temporarily locked (read-only)"
READ_ONLY = "Namespace is in read-only mode"
WORM = "Namespace is protected by worm mode"
NO_SPACE = "No space left on this namespace"
PERMISSION_DENIED = "Permission denied"
NS_GONE = "Your active namespace is not available anymore (probably removed)."
EXPIRED = "Reservation expired (read-only)"
RELEASED = "Reservation released"
NO_CHAIN = "Chain disabled on this server"
DEFAULT_GRACE = 7 * 86400.0
CHAIN_LEAF_BATCH = 1000
# what MIRROR forwards: the commands that change data or namespaces, when they succeed
MIRRORED = frozenset(
    {b"SET", b"DEL", b"FLUSH", b"NSNEW", b"NSDEL", b"NSSET", b"RESERVE", b"RESERVATION"}
)

log = logging.getLogger("zeroos.zdb")
_time_ns = time.time_ns  # SET's clock, without a module attribute lookup per call


@dataclass(slots=True, eq=False)
class Session:
    """What one connection has chosen and proven: namespace, admin rights, write access."""

    store: Store
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


def _need(args: list[bytes], count: int) -> None:
    """0-db's exact-count check: a wrong count or an empty argument is refused."""
    if len(args) != count:
        raise ReplyError("Unexpected arguments")
    for arg in args:
        if not arg:
            raise ReplyError("Invalid argument")


def _key(args: list[bytes]) -> bytes:
    """The single key argument of GET-like commands."""
    if len(args) != 2:
        raise ReplyError("Unexpected arguments")
    key = args[1]
    if not key or not args[0]:
        raise ReplyError("Invalid argument")
    if len(key) > MAX_KEY:
        raise ReplyError("Invalid key")
    return key


def _timestamp_us(raw: bytes) -> int:
    """An admin's explicit timestamp (seconds; 0-db keeps a u32), in microseconds."""
    try:
        seconds = int(raw)
    except ValueError:
        raise ReplyError("Invalid argument") from None
    if not 0 <= seconds <= 0xFFFFFFFF:  # the engines cannot store others
        raise ReplyError("Invalid argument")
    return seconds * 1_000_000


def _readable(store: Store) -> None:
    if store.access == ACCESS_FROZEN:
        raise ReplyError(FROZEN)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _mb(size: int) -> str:
    return f"{size / 1048576:.2f}"


def _text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise ReplyError("Invalid argument") from None


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
        self._reserved: set[str] = set()
        for name in engine.namespaces():
            try:
                store = engine.open(name)
            except (StorageError, CorruptData):
                continue  # a namespace that can't open now answers an error line when used
            if store is not None:
                self.stats.data_cuts += store.faults.cuts
                self.stats.data_cut_bytes += store.faults.cut_bytes
            if store is not None and store.settings.owner:
                self._reserved.add(name)
        self.table: dict[bytes, Handler] = {
            b"PING": self.ping,
            b"TIME": self.time,
            b"INFO": self.info,
            b"DBSIZE": self.dbsize,
            b"AUTH": self.auth,
            b"SELECT": self.select,
            b"NSNEW": self.nsnew,
            b"NSDEL": self.nsdel,
            b"NSLIST": self.nslist,
            b"NSINFO": self.nsinfo,
            b"NSSET": self.nsset,
            b"SET": self.set,
            b"GET": self.get,
            b"MGET": self.mget,
            b"DEL": self.delete,
            b"EXISTS": self.exists,
            b"CHECK": self.check,
            b"LENGTH": self.length,
            b"KEYTIME": self.keytime,
            b"KEYCUR": self.keycur,
            b"SCAN": self.scan,
            b"SCANX": self.scan,
            b"RSCAN": self.rscan,
            b"HISTORY": self.history,
            b"FLUSH": self.flush,
            b"WAIT": self.wait,
            b"HELLO": self.hello,
            b"CHAIN": self.chain,
            b"RESERVE": self.reserve,
            b"RESERVATION": self.reservation,
            b"KSCAN": self.kscan,
            b"RELOAD": self.reload,
            b"MIRROR": self.mirror,
            b"STOP": self.stop,
        }
        # what clients send is upper or lower case: look those up without .upper()
        self.handlers: dict[bytes, Handler] = dict(self.table)
        self.handlers.update({name.lower(): fn for name, fn in self.table.items()})

    # -- sessions and dispatch --------------------------------------------------------------
    def new_session(self, address: str = "local") -> Session:
        """A connection's session; ``address`` is whose password failures it shares."""
        self.stats.clients_lifetime += 1
        session = Session(self.default, admin=self.admin_password is None, address=address)
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
        return b"-Internal Error: " + str(exc).encode("utf-8", "replace") + b"\r\n"

    def _admin(self, session: Session) -> None:
        if not session.admin:
            raise ReplyError(PERMISSION_DENIED)

    def _writable(self, session: Session) -> Store:
        store = session.store
        if not session.writable:
            raise ReplyError(READ_ONLY)
        if store.access == ACCESS_FROZEN:
            raise ReplyError(FROZEN)
        if store.access == ACCESS_LOCKED:
            raise ReplyError(LOCKED)
        if store.settings.state:
            self._check_reservation(store, time.time())
            state = store.settings.state
            if state == "expired":
                raise ReplyError(EXPIRED)
            if state == "released":
                raise ReplyError(RELEASED)
            if session.owner_of == store.name and session.owner_key != store.settings.owner:
                raise ReplyError(PERMISSION_DENIED)  # the owner transferred it since
        return store

    # -- reservations -----------------------------------------------------------------------
    def _is_owner(self, session: Session, store: Store) -> bool:
        owner = store.settings.owner
        return bool(owner) and session.owner_of == store.name and session.owner_key == owner

    def _check_reservation(self, store: Store, now: float) -> None:
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
        for name in sorted(self._reserved):
            store = self.engine.open(name)
            if store is None:
                self._reserved.discard(name)
                continue
            self._check_reservation(store, now)

    def _int_arg(self, raw: bytes, what: str) -> int:
        if not raw.isdigit() or len(raw) > 20:
            raise ReplyError(f"Invalid {what} (expected: a non-negative integer)")
        return int(raw)

    def _owner_arg(self, raw: bytes) -> str:
        try:
            return public_key_from_hex(raw.decode("ascii")).hex()
        except (SignatureError, UnicodeDecodeError):
            raise ReplyError(
                "Invalid owner (expected: 64 hex digits, an Ed25519 public key)"
            ) from None

    def reserve(self, session: Session, args: list[bytes]) -> bytes:
        """RESERVE ns size expiry owner-pubkey (admin): a namespace that belongs to a key."""
        self._admin(session)
        _need(args, 5)
        name = self._new_name(args[1])
        size = self._int_arg(args[2], "size")
        expiry = self._int_arg(args[3], "expiry")
        owner = self._owner_arg(args[4])
        settings = NamespaceSettings(
            mode=self.fixed_mode or "user",
            maxsize=size,
            public=False,
            owner=owner,
            expiry=expiry,
            state="active",
        )
        try:
            store = self.engine.create(name, settings)
        except StorageError:
            raise ReplyError("Could not create namespace") from None
        if store.chain is not None:
            text = f"size={size} expiry={expiry} owner={owner}"
            store.chain.event(OP_RESERVE, b"reservation", extra=text.encode())
        self._reserved.add(name)
        self._check_reservation(store, time.time())
        return OK

    def reservation(self, session: Session, args: list[bytes]) -> bytes:
        """RESERVATION ns size|expiry|owner value: admin (size, expiry) or owner (owner)."""
        _need(args, 4)
        store = self._lookup(args[1])
        s = store.settings
        if not s.owner:
            raise ReplyError("Not a reservation")
        prop = args[2].lower()
        if prop == b"owner":
            if not (session.admin or self._is_owner(session, store)):
                raise ReplyError(PERMISSION_DENIED)
            value = self._owner_arg(args[3])
            s.owner = value
        elif prop in (b"size", b"expiry"):
            self._admin(session)
            number = self._int_arg(args[3], prop.decode())
            value = str(number)
            if prop == b"size":
                s.maxsize = number
            else:
                s.expiry = number
                if number > time.time():
                    s.state = "active"
        else:
            raise ReplyError("Invalid property (expected: size, expiry, owner)")
        store.save_settings()
        if store.chain is not None:
            extra = f"{value} state={s.state}".encode()
            store.chain.event(OP_RESERVATION, prop, extra=extra)
        self._check_reservation(store, time.time())
        return OK

    # -- the chain --------------------------------------------------------------------------
    @staticmethod
    def _head(head: SignedHead) -> bytes:
        return array(
            [
                bulk(head.namespace.encode()),
                integer(head.size),
                bulk(head.root),
                integer(head.timestamp_us),
                bulk(head.signature),
                bulk(head.public_key),
            ]
        )

    def chain(self, session: Session, args: list[bytes]) -> bytes:
        """CHAIN HEAD | PROOF key | CONSISTENCY old [new] | LEAF index [count]."""
        if len(args) < 2:
            raise ReplyError("Unexpected arguments")
        store = session.store
        _readable(store)
        log = store.chain
        if log is None:
            raise ReplyError(NO_CHAIN)
        sub = args[1].upper()
        if sub == b"HEAD":
            if len(args) != 2:
                raise ReplyError("Unexpected arguments")
            return self._head(log.head())
        if sub == b"PROOF":
            key = _key(args[1:])
            index = store.chain_leaf(key)
            if index is None:
                raise ReplyError("Key not found")
            head = log.head()
            leaf = log.leaf(index)
            value = store.get(key) if leaf[1] == OP_SET else None
            path = log.inclusion(index, head.size)
            return array(
                [
                    integer(index),
                    bulk(leaf),
                    NIL if value is None else bulk(value),
                    array([bulk(h) for h in path]),
                    self._head(head),
                ]
            )
        if sub == b"CONSISTENCY":
            if len(args) not in (3, 4):
                raise ReplyError("Unexpected arguments")
            log.commit()
            old = self._int_arg(args[2], "size")
            new = self._int_arg(args[3], "size") if len(args) == 4 else log.size
            if not old <= new <= log.size:
                raise ReplyError("Invalid size (expected: old <= new <= tree size)")
            path = log.consistency(old, new)
            return array([integer(old), integer(new), array([bulk(h) for h in path])])
        if sub == b"LEAF":
            if len(args) not in (3, 4):
                raise ReplyError("Unexpected arguments")
            log.commit()
            index = self._int_arg(args[2], "index")
            if index >= log.size:
                raise ReplyError("Leaf index out of range")
            if len(args) == 3:
                return bulk(log.leaf(index))
            count = min(self._int_arg(args[3], "count"), CHAIN_LEAF_BATCH, log.size - index)
            return array([bulk(log.leaf(i)) for i in range(index, index + count)])
        raise ReplyError("Invalid subcommand (expected: HEAD, PROOF, CONSISTENCY, LEAF)")

    # -- MIRROR -----------------------------------------------------------------------------
    def mirror(self, session: Session, args: list[bytes]) -> bytes:
        """MIRROR (admin): this connection then receives every write of the others."""
        self._admin(session)
        if session not in self.mirrors:
            self.mirrors.append(session)
        return b"+Starting mirroring\r\n"

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

    # -- WAIT -------------------------------------------------------------------------------
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
        waiters = self.waiters.get(waiter.session.store.name)
        if waiters and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self.waiters[waiter.session.store.name]

    def wait(self, session: Session, args: list[bytes]) -> bytes:
        if len(args) not in (2, 3):
            raise ReplyError("Invalid arguments")
        command = args[1].upper()
        if command == b"SCANX":
            command = b"SCAN"
        if command != b"*" and command not in self.table:
            raise ReplyError("Unknown command to watch")
        timeout = WAIT_DEFAULT_MS
        if len(args) == 3:
            text = args[2]
            if len(text) > 16 or not text.isdigit():
                raise ReplyError("Invalid timeout")
            timeout = int(text)
            if not WAIT_MIN_MS <= timeout <= WAIT_MAX_MS:
                raise ReplyError("Invalid timeout")
        session.waiter = Waiter(session, command, timeout)
        return b""  # the server parks the connection and answers later

    # -- server commands --------------------------------------------------------------------
    def ping(self, session: Session, args: list[bytes]) -> bytes:
        return b"+PONG\r\n"

    def time(self, session: Session, args: list[bytes]) -> bytes:
        now = time.time_ns() // 1000
        return array([bulk(b"%d" % (now // 1_000_000)), bulk(b"%d" % (now % 1_000_000))])

    def stop(self, session: Session, args: list[bytes]) -> bytes:
        """STOP (admin): answer, then stop the server cleanly (0-db does so in debug builds)."""
        self._admin(session)
        if self.on_stop is None:
            raise ReplyError("Unauthorized")  # 0-db's line where STOP can't stop anything
        self.on_stop()
        return b"+Stopping\r\n"

    def dbsize(self, session: Session, args: list[bytes]) -> bytes:
        return integer(session.store.entries)

    def info(self, session: Session, args: list[bytes]) -> bytes:
        stats = self.stats
        now = time.time()
        lines = [
            "# server",
            "server_name: 0-db (zdb)",
            f"server_revision: zeroos-{__version__}",
            f"engine_revision: {type(self.engine).__name__}",
            f"instance_id: {self.instance_id}",
            f"chain: {'on' if self.engine.identity is not None else 'off'}",
            f"native: {'on' if NATIVE else 'off'}",
            f"public_key: {self.engine.identity.public_key.hex() if self.engine.identity else ''}",
            f"boot_time: {int(stats.boot_time)}",
            f"uptime: {int(now - stats.boot_time)}",
            "",
            "# clients",
            f"clients_lifetime: {stats.clients_lifetime}",
            "",
            "# internals",
            f"sequential_key_size: {SEQ_KEY_SIZE}",
            f"runtime_mode: {self.fixed_mode or 'mixed'}",
            "",
            "# stats",
            f"commands_executed: {stats.commands_executed}",
            f"commands_failed: {stats.commands_failed}",
            f"commands_unauthorized: {stats.commands_unauthorized}",
            f"network_rx_bytes: {stats.network_rx_bytes}",
            f"network_rx_mb: {_mb(stats.network_rx_bytes)}",
            f"network_tx_bytes: {stats.network_tx_bytes}",
            f"network_tx_mb: {_mb(stats.network_tx_bytes)}",
            f"data_cuts: {stats.data_cuts}",
            f"data_cut_bytes: {stats.data_cut_bytes}",
        ]
        return bulk(("\n".join(lines) + "\n").encode())

    def hello(self, session: Session, args: list[bytes]) -> bytes:
        """Redis 6's handshake, which redis-py 8 sends first (not in 0-db: an extension).

        Only the reply to HELLO itself differs between RESP2 and RESP3: every other reply
        of zero-db is valid in both.
        """
        proto = 2
        rest = args[1:]
        if rest:
            try:
                proto = int(rest[0])
            except ValueError:
                raise ReplyError("Protocol version is not an integer or out of range") from None
            if proto not in (2, 3):
                raise ReplyError("NOPROTO unsupported protocol version")
            rest = rest[1:]
        while rest:
            option = rest[0].upper()
            if option == b"AUTH" and len(rest) >= 3:
                self.auth(session, [b"AUTH", rest[2]])
                rest = rest[3:]
            elif option == b"SETNAME" and len(rest) >= 2:
                rest = rest[2:]
            else:
                raise ReplyError("Syntax error in HELLO option")
        fields = [
            (b"server", bulk(b"0-db (zdb)")),
            (b"version", bulk(__version__.encode())),
            (b"proto", integer(proto)),
            (b"id", integer(self.stats.clients_lifetime)),
            (b"mode", bulk(b"standalone")),
            (b"role", bulk(b"master")),
            (b"modules", b"*0\r\n"),
        ]
        head = b"%%%d\r\n" % len(fields) if proto == 3 else b"*%d\r\n" % (2 * len(fields))
        return head + b"".join(bulk(k) + v for k, v in fields)

    # -- authentication ---------------------------------------------------------------------
    def _guessed(self, session: Session, ok: bool, command: str, namespace: str | None) -> None:
        """Account for one password try: slow its reply, log a failure, raise Access denied.

        The reply of a try (right or wrong) waits when the client's address or connection has
        failed too often (:class:`GuessThrottle`): the connection is parked like a WAIT, so
        nobody else waits. The log line never holds what was tried.
        """
        delay = self.throttle.delay(session.address, session.failures)
        if delay > 0:
            session.waiter = Waiter(session, b"", max(1, round(delay * 1000)))
        if ok:
            return
        session.failures += 1
        failures = self.throttle.failed(session.address)
        event(
            log,
            "auth_failed",
            level=logging.WARNING,
            peer=session.address,
            command=command,
            namespace=namespace,
            failures=max(failures, session.failures),
            delay_ms=round(delay * 1000),
        )
        raise ReplyError("Access denied")

    @staticmethod
    def _secure_hash(nonce: str, password: str) -> str:
        return hashlib.sha1(f"{nonce}:{password}".encode()).hexdigest()

    def _auth_signed(self, session: Session, args: list[bytes]) -> bytes:
        if len(args) == 3 and args[2].upper() == b"CHALLENGE":
            session.signed_nonce = secrets.token_hex(16)
            return simple(session.signed_nonce)
        nonce, session.signed_nonce = session.signed_nonce, None  # single use, whatever follows
        if len(args) != 5:
            raise ReplyError("Unexpected arguments")
        if nonce is None:
            raise ReplyError("No CHALLENGE requested, signed authentication not available")
        store = self._lookup(args[2])
        owner = store.settings.owner
        try:
            key = public_key_from_hex(args[3].decode("ascii"))
            signature = bytes.fromhex(args[4].decode("ascii"))
            if owner is None or key.hex() != owner:
                raise SignatureError("not the owner")
            _verify_signature(key, signature, auth_message(nonce, store.name))
            signed = True
        except (SignatureError, ValueError):
            signed = False
        self._guessed(session, signed, "AUTH SIGNED", store.name)
        session.store, session.writable = store, True
        session.owner_of, session.owner_key = store.name, owner
        return OK

    def auth(self, session: Session, args: list[bytes]) -> bytes:
        if len(args) >= 3 and args[1].upper() == b"SIGNED":
            return self._auth_signed(session, args)
        if len(args) == 3:
            if not b"SECURE".startswith(args[1].upper()) or not args[1]:
                raise ReplyError("Only SECURE extra method supported")
            if args[2].upper() == b"CHALLENGE":
                session.nonce = secrets.token_hex(8)
                return simple(session.nonce)
            if self.admin_password is None:
                raise ReplyError("Authentication disabled")
            nonce, session.nonce = session.nonce, None  # single use, whatever the outcome
            if nonce is None:
                raise ReplyError("No CHALLENGE requested, secure authentication not available")
            if len(args[2]) != 40:
                raise ReplyError("Invalid hash length")
            expected = self._secure_hash(nonce, self.admin_password)
            self._guessed(session, hmac.compare_digest(args[2], expected.encode()), "AUTH", None)
            session.admin = True
            return OK
        if len(args) != 2:
            raise ReplyError("Unexpected arguments")
        if self.admin_password is None:
            raise ReplyError("Authentication disabled")
        if not args[1]:
            raise ReplyError("Invalid argument")
        if len(args[1]) > 128:
            raise ReplyError("Password too long")
        ok = hmac.compare_digest(args[1], self.admin_password.encode())
        self._guessed(session, ok, "AUTH", None)
        session.admin = True
        return OK

    def select(self, session: Session, args: list[bytes]) -> bytes:
        if len(args) < 2 or not args[1]:
            raise ReplyError("Invalid argument")
        if len(args[1]) > NAMESPACE_MAX:
            raise ReplyError("Namespace too long")
        store = self._lookup(args[1])
        password = store.settings.password
        owned = store.settings.owner is not None
        if owned and (session.admin or self._is_owner(session, store)) and len(args) == 2:
            session.store, session.writable = store, True
            return OK
        if password is None and not owned:
            session.store, session.writable = store, True
            return OK
        if len(args) == 2 or password is None:
            if len(args) > 2:
                raise ReplyError("Access denied")
            if not store.settings.public:
                raise ReplyError("Namespace protected and private")
            session.store, session.writable = store, False
            return OK
        if len(args) > 4:
            raise ReplyError("Too many arguments")
        if len(args) == 3:
            if len(args[2]) > 255:
                raise ReplyError("Password too long")
            ok = hmac.compare_digest(args[2], password.encode())
        else:
            if not args[2] or not b"SECURE".startswith(args[2].upper()):
                raise ReplyError("Only SECURE extra method supported")
            nonce, session.nonce = session.nonce, None  # single use, whatever the outcome
            if nonce is None:
                raise ReplyError("No CHALLENGE requested, secure authentication not available")
            if len(args[3]) != 40:
                raise ReplyError("Invalid hash length")
            expected = self._secure_hash(nonce, password)
            ok = hmac.compare_digest(args[3], expected.encode())
        self._guessed(session, ok, "SELECT", store.name)
        session.store, session.writable = store, True
        return OK

    # -- namespaces -------------------------------------------------------------------------
    def _lookup(self, raw: bytes) -> Store:
        try:
            name = raw.decode()
        except UnicodeDecodeError:
            raise ReplyError("Namespace not found") from None
        store = self.engine.open(name) if valid_name(name) else None
        if store is None:
            raise ReplyError("Namespace not found")
        return store

    def _new_name(self, raw: bytes) -> str:
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

    def nsnew(self, session: Session, args: list[bytes]) -> bytes:
        self._admin(session)
        _need(args, 2)
        name = self._new_name(args[1])
        try:
            self.engine.create(name, NamespaceSettings(mode=self.fixed_mode or "user"))
        except StorageError:
            raise ReplyError("Could not create namespace") from None
        return OK

    def nsdel(self, session: Session, args: list[bytes]) -> bytes:
        self._admin(session)
        _need(args, 2)
        if len(args[1]) > NAMESPACE_MAX:
            raise ReplyError("Namespace too long")
        if args[1] == DEFAULT_NAMESPACE.encode():
            raise ReplyError("Cannot remove default namespace")
        try:
            store = self._lookup(args[1])
        except ReplyError:
            raise ReplyError("This namespace doesn't exists") from None
        if store is session.store:
            raise ReplyError("Cannot remove namespace you're currently using.")
        try:
            self.engine.drop(store.name)
        except (StorageError, OSError):
            raise ReplyError("Could not delete this namespace") from None
        store.dropped = True
        self._reserved.discard(store.name)
        return OK

    def reload(self, session: Session, args: list[bytes]) -> bytes:
        """RELOAD ns (admin): read a namespace again from disk; its clients stay in it."""
        self._admin(session)
        _need(args, 2)
        if len(args[1]) > NAMESPACE_MAX:
            raise ReplyError("Namespace too long")
        old = self._lookup(args[1])
        try:
            new = self.engine.reload(old.name)
        except (StorageError, CorruptData):
            old.dropped = True  # closed: its clients are told the namespace is gone
            raise
        if new is None:
            old.dropped = True
            raise ReplyError("Namespace not found")
        if new is not old:
            self.stats.data_cuts += new.faults.cuts  # what its recovery cut, as at start
            self.stats.data_cut_bytes += new.faults.cut_bytes
            # lock and freeze are runtime states, kept as 0-db keeps them on its namespace
            new.access, new.access_by_admin = old.access, old.access_by_admin
            for other in self.sessions:
                if other.store is old:
                    other.store = new
            if old is self.default:
                self.default = new
        return OK

    def nslist(self, session: Session, args: list[bytes]) -> bytes:
        names = [n for n in self.engine.namespaces() if n != DEFAULT_NAMESPACE]
        return array([bulk(DEFAULT_NAMESPACE.encode())] + [bulk(n.encode()) for n in names])

    def nsinfo(self, session: Session, args: list[bytes]) -> bytes:
        _need(args, 2)
        if len(args[1]) > NAMESPACE_MAX:
            raise ReplyError("Namespace too long")
        store = self._lookup(args[1])
        s = store.settings
        nextid = int.from_bytes((store.next_id & 0xFFFFFFFF).to_bytes(4, "little"), "big")
        lines = [
            "# namespace",
            f"name: {store.name}",
            f"entries: {store.entries}",
            f"public: {_yes(s.public)}",
            f"worm: {_yes(s.worm)}",
            f"locked: {_yes(store.access != ACCESS_OPEN)}",
            f"password: {_yes(s.password is not None)}",
            f"data_size_bytes: {store.data_size}",
            f"data_size_mb: {_mb(store.data_size)}",
            f"data_limits_bytes: {s.maxsize}",
            f"index_size_bytes: {store.index_size}",
            f"index_size_kb: {store.index_size / 1024:.2f}",
            f"next_internal_id: 0x{nextid:08x}",
            f"mode: {'sequential' if s.mode == 'seq' else 'userkey'}",
            f"stats_index_io_errors: {store.faults.index_io_errors}",
            f"stats_index_io_error_last: {store.faults.index_io_error_last}",
            f"stats_index_faults: {store.faults.index_faults}",
            f"stats_data_io_errors: {store.faults.data_io_errors}",
            f"stats_data_io_error_last: {store.faults.data_io_error_last}",
            f"stats_data_faults: {store.faults.data_faults}",
            f"stats_data_cuts: {store.faults.cuts}",
            f"stats_data_cut_bytes: {store.faults.cut_bytes}",
            f"disk_size_bytes: {store.disk_size}",
        ]
        if s.maxsize > 0:
            lines.append(f"space_available: {s.maxsize - store.data_size}")
        paths = getattr(self.engine, "datadir", None), getattr(self.engine, "indexdir", None)
        if paths[0] and paths[1]:
            for label, path in (("index", paths[1]), ("data", paths[0])):
                free = shutil.disk_usage(str(path)).free
                lines.append(f"{label}_disk_freespace_bytes: {free}")
                lines.append(f"{label}_disk_freespace_mb: {_mb(free)}")
            if session.admin:
                lines.append(f"data_path: {os.path.join(str(paths[0]), store.name)}")
                lines.append(f"index_path: {os.path.join(str(paths[1]), store.name)}")
        if s.owner:
            self._check_reservation(store, time.time())
            lines.append(f"reservation_owner: {s.owner}")
            lines.append(f"reservation_expiry: {s.expiry}")
            lines.append(f"reservation_state: {s.state}")
        if store.chain is not None:
            store.chain.commit()
            lines.append(f"chain_size: {store.chain.size}")
        return bulk(("\n".join(lines) + "\n").encode())

    def nsset(self, session: Session, args: list[bytes]) -> bytes:
        owner = (
            not session.admin
            and len(args) == 4
            and session.owner_of is not None
            and args[1] == session.owner_of.encode()
            and args[2] in (b"password", b"public", b"worm", b"lock", b"freeze")
        )
        if not owner:
            self._admin(session)
        _need(args, 4)
        if len(args[1]) > NAMESPACE_MAX:
            raise ReplyError("Namespace too long")
        if len(args[2]) > 64 or len(args[3]) > 63:
            raise ReplyError("Argument too long")
        store = self._lookup(args[1])
        if owner and not self._is_owner(session, store):
            raise ReplyError(PERMISSION_DENIED)
        prop, value = args[2], args[3]
        settings = store.settings
        if prop in (b"lock", b"freeze"):
            if owner and store.access_by_admin:
                raise ReplyError(PERMISSION_DENIED)  # the admin's lock is the admin's to lift
            if value != b"1":
                store.access = ACCESS_OPEN
            else:
                store.access = ACCESS_LOCKED if prop == b"lock" else ACCESS_FROZEN
            store.access_by_admin = session.admin and store.access != ACCESS_OPEN
            return OK
        if prop == b"mode":
            if self.fixed_mode is not None:
                raise ReplyError("This server instance is configured to use a single runtime mode")
            if store.index_size > 0 or store.entries > 0:
                raise ReplyError("Cannot change mode of used namespace")
            if value not in (b"user", b"seq"):
                raise ReplyError("Invalid property value (expected: user, seq)")
            settings.mode = "seq" if value == b"seq" else "user"
        elif store.name == DEFAULT_NAMESPACE:
            raise ReplyError("Cannot update default namespace")
        elif prop == b"maxsize":
            try:
                maxsize = int(value)
            except ValueError:
                raise ReplyError("Invalid property value (expected: a size in bytes)") from None
            if maxsize < 0:
                raise ReplyError("Invalid property value (expected: a size in bytes)")
            settings.maxsize = maxsize
        elif prop == b"password":
            settings.password = None if value == b"*" else _text(value)
        elif prop == b"public":
            settings.public = value[:1] == b"1"
        elif prop == b"worm":
            settings.worm = value[:1] == b"1"
        else:
            raise ReplyError("Invalid property")
        store.save_settings()
        if store.chain is not None:
            shown = (b"unset" if value == b"*" else b"set") if prop == b"password" else value
            store.chain.event(OP_NSSET, prop, extra=shown)
        return OK

    def flush(self, session: Session, args: list[bytes]) -> bytes:
        store = session.store
        if store.settings.public or store.settings.password is None:
            raise ReplyError("Flushing public namespace denied")
        self._writable(session)  # read-only, frozen, locked, an expired or released reservation
        if store.settings.worm:
            raise ReplyError(WORM)
        try:
            store.clear()
        except (StorageError, OSError):
            raise ReplyError("Internal Server Error") from None
        return OK

    # -- keys -------------------------------------------------------------------------------
    def set(self, session: Session, args: list[bytes]) -> bytes:
        argc = len(args)
        if argc == 3:
            _, key, value = args
            timestamp_us = _time_ns() // 1000
        elif argc == 4:
            self._admin(session)
            timestamp_us = _timestamp_us(args[3])
            key, value = args[1], args[2]
        else:
            raise ReplyError("Unexpected arguments")
        if len(key) > MAX_KEY:
            raise ReplyError("Key too large")
        store = session.store
        settings = store.settings
        # _writable's common case inline: an open namespace (ACCESS_OPEN is 0), no reservation
        if not session.writable or store.access or settings.state:
            store = self._writable(session)
            settings = store.settings
        if settings.mode == "seq":
            if not key:
                key = store.next_id.to_bytes(SEQ_KEY_SIZE, "little")
                old_size = None
            else:
                old_size = store.stored_size(key)
                if old_size is None:
                    raise ReplyError("Invalid key, only update authorized")
        else:
            if not key:
                raise ReplyError("Invalid argument, key needed")
            old_size = store.stored_size(key)
        if old_size is not None:
            if settings.worm:
                raise ReplyError(WORM)
            if old_size == len(value):
                try:
                    same = store.get(key) == value
                except CorruptData:
                    same = False  # a damaged value gets replaced: SET is how a user repairs it
                if same:
                    return NIL
        if settings.maxsize and store.data_size + len(value) > settings.maxsize + (old_size or 0):
            raise ReplyError(NO_SPACE)
        store.put(key, value, timestamp_us)
        return BULK_HEADS[len(key)] + key + CRLF  # a key is at most MAX_KEY bytes

    def get(self, session: Session, args: list[bytes]) -> bytes:
        try:
            _, key = args
        except ValueError:
            key = _key(args)  # raises the right error line
        if not key or len(key) > MAX_KEY:
            _key(args)  # raises the right error line
        store = session.store
        if store.access == ACCESS_FROZEN:
            raise ReplyError(FROZEN)
        value = store.get(key)
        if value is None:
            return NIL
        size = len(value)
        if size < SHORT_BULK:
            return BULK_HEADS[size] + value + CRLF
        return b"$%d\r\n%b\r\n" % (size, value)

    def mget(self, session: Session, args: list[bytes]) -> bytes:
        if len(args) < 2:
            raise ReplyError("Invalid arguments")
        for key in args[1:]:
            if len(key) > MAX_KEY:
                raise ReplyError("Invalid key")
        store = session.store
        _readable(store)
        out = []
        for key in args[1:]:
            value = store.get(key) if key else None
            out.append(NIL if value is None else bulk(value))
        return array(out)

    def delete(self, session: Session, args: list[bytes]) -> bytes:
        if len(args) == 3:
            self._admin(session)
            timestamp_us = _timestamp_us(args[2])
            key = _key(args[:2])
        else:
            key = _key(args)
            timestamp_us = time.time_ns() // 1000
        store = self._writable(session)
        if not store.contains(key):
            raise ReplyError("Key not found")
        if store.settings.worm:
            raise ReplyError("Cannot delete a key when namespace is in worm mode")
        store.delete(key, timestamp_us)
        return OK

    def exists(self, session: Session, args: list[bytes]) -> bytes:
        key = _key(args)
        _readable(session.store)
        return ONE if session.store.contains(key) else ZERO

    def check(self, session: Session, args: list[bytes]) -> bytes:
        key = _key(args)
        _readable(session.store)
        try:
            ok = session.store.check(key)
        except StorageError as exc:
            session.store.faults.io_error(str(exc))
            return b":-1\r\n"
        if ok is None:
            return NIL
        if not ok:
            session.store.faults.data_faults += 1
            return ZERO
        return ONE

    def length(self, session: Session, args: list[bytes]) -> bytes:
        key = _key(args)
        _readable(session.store)
        size = session.store.stored_size(key)
        return NIL if size is None else integer(size)

    def keytime(self, session: Session, args: list[bytes]) -> bytes:
        key = _key(args)
        _readable(session.store)
        info = session.store.info(key)
        return NIL if info is None else integer(info.timestamp_us // 1_000_000)

    def keycur(self, session: Session, args: list[bytes]) -> bytes:
        _need(args, 2)  # 0-db checks no key length here: a longer key is just not found
        _readable(session.store)
        cursor = session.store.cursor_of(args[1])
        if cursor is None:
            raise ReplyError("Key not found")
        return bulk(cursor)

    def _scan(self, session: Session, args: list[bytes], reverse: bool) -> bytes:
        store = session.store
        _readable(store)
        cursor = args[1] if len(args) > 1 else None
        try:
            entries, last = store.scan(cursor, SCAN_BATCH, reverse, SCAN_WALK)
        except ValueError:
            raise ReplyError("Invalid key format") from None
        session.waiter = YIELD
        if last is None:
            raise ReplyError("No more data")
        items = [
            b"*3\r\n" + bulk(e.key) + integer(e.size) + integer(e.timestamp_us // 1_000_000)
            for e in entries
        ]
        return b"*2\r\n" + bulk(last) + array(items)

    def scan(self, session: Session, args: list[bytes]) -> bytes:
        return self._scan(session, args, reverse=False)

    def kscan(self, session: Session, args: list[bytes]) -> bytes:
        """KSCAN prefix: every live key starting with prefix, in one reply (cursor "0")."""
        store = session.store
        if store.settings.mode == "seq":  # 0-db checks the mode before the arguments
            raise ReplyError("Index running mode doesn't support this feature")
        _need(args, 2)
        _readable(store)
        keys = store.keys(args[1])
        if not keys:
            raise ReplyError("No keys match")
        return b"*2\r\n$1\r\n0\r\n" + array([bulk(key) for key in keys])

    def rscan(self, session: Session, args: list[bytes]) -> bytes:
        return self._scan(session, args, reverse=True)

    def history(self, session: Session, args: list[bytes]) -> bytes:
        if len(args) not in (2, 3):
            raise ReplyError("Invalid arguments")
        _readable(session.store)
        key = args[1]
        if len(key) > MAX_KEY:
            raise ReplyError("Invalid key")
        cursor = None
        if len(args) == 3:
            cursor = args[2]
            if len(cursor) != 8:
                raise ReplyError("Invalid arguments")
        try:
            version = session.store.history(key, cursor)
        except ValueError as exc:
            # 0-db: a readable entry of another key vs. no entry at that location at all
            if "another key" in str(exc):
                raise ReplyError("Invalid arguments (invalid key)") from None
            raise ReplyError("Invalid arguments (index query)") from None
        if version is None:
            raise ReplyError("Key not found")
        parent = NIL if version.cursor is None else bulk(version.cursor)
        stamp = bulk(b"%d" % (version.info.timestamp_us // 1_000_000))
        return b"*3\r\n" + parent + stamp + bulk(version.value)


__all__ = ["YIELD", "Commands", "Session", "Stats", "Waiter", "Yield"]
