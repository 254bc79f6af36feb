"""The zero-db client: talk to a zero-db (or 0-db) server from Python, synchronously.

Built on redis-py's connection pool and hiredis parser, speaking RESP2. Every pooled
connection proves the admin password and selects the client's namespace as soon as it
connects, and again before its next command whenever :meth:`Client.select` changed the
namespace, so a reconnect never lands in the ``default`` namespace unnoticed.

Commands are never retried: a broken connection raises :class:`ZdbConnectionError` and the
next call opens a fresh one. Server error lines become the typed exceptions of
:mod:`zeroos.zdb.errors`; :func:`translate_error` is the one place where redis-py's errors
are turned into them.

The asyncio twin with the same methods is :class:`zeroos.zdb.client.aio.AsyncClient`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self, TypeAlias, TypeVar
from urllib.parse import unquote, urlsplit

import redis
import redis.exceptions
from redis.backoff import NoBackoff
from redis.connection import Connection as _RedisConnection
from redis.connection import UnixDomainSocketConnection as _RedisUnixConnection
from redis.retry import Retry

from ..chain.signing import SignedHead, public_key_from_bytes
from ..chain.trust import Trust, parse_head
from ..errors import (
    CLOSING_LINES,
    KeyNotFound,
    NoMoreData,
    ZdbConnectionError,
    ZdbError,
    ZdbResponseError,
    ZdbTimeoutError,
    error_from_reply,
)

Key: TypeAlias = bytes | str | int
"""A key: bytes, text (sent as UTF-8), or a sequential id (int, sent as 8 bytes little-endian)."""
Value: TypeAlias = bytes | str
"""A value: bytes, or text (sent as UTF-8)."""
FieldValue: TypeAlias = str | int | float | bool
"""One field of INFO or NSINFO: yes/no become bool, numbers int or float, the rest text."""
Command: TypeAlias = tuple[bytes, ...]
_T = TypeVar("_T")

DEFAULT_PORT: Final = 9900
DEFAULT_TIMEOUT: Final = 5.0
DEFAULT_MAX_CONNECTIONS: Final = 50
SEQ_ID_SIZE: Final = 8
MGET_BATCH: Final = 1000  # 0-db takes at most 1024 arguments, the command name included
WAIT_DEFAULT_MS: Final = 5000
DEFAULT_NAMESPACE: Final = "default"
_POOL_EXHAUSTED: Final = "No connection available."  # redis-py's blocking pool gave up
_NUMBER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]+\.[0-9]+")


# -- what the server returns ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ScanEntry:
    """One key that SCAN or RSCAN returned: its name, value size and last write time."""

    key: bytes
    size: int
    timestamp: int  # unix seconds of the last write

    @property
    def seq_id(self) -> int:
        """The key read as a sequential id (namespaces in ``seq`` mode)."""
        return int.from_bytes(self.key, "little")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One version of a key that HISTORY returned, newest first."""

    value: bytes
    timestamp: int  # unix seconds of this version's write
    cursor: bytes | None  # where this version sits; None for the current version


@dataclass(frozen=True, slots=True)
class NamespaceInfo:
    """What NSINFO reports about a namespace, typed; ``fields`` holds every line as parsed."""

    name: str
    entries: int
    public: bool
    worm: bool
    locked: bool  # locked or frozen (NSSET lock/freeze)
    password: bool  # whether a password is set
    data_size_bytes: int
    data_limits_bytes: int  # maxsize; 0 means no limit
    index_size_bytes: int
    mode: str  # "user" or "seq", the words NSSET uses
    space_available: int | None  # only when a maxsize is set
    data_path: str | None  # only reported to admins
    index_path: str | None
    fields: dict[str, FieldValue]

    @classmethod
    def parse(cls, text: str) -> NamespaceInfo:
        """Build from the text of an NSINFO reply."""
        fields = parse_fields(text)
        mode = _field(fields, "mode", str)
        return cls(
            name=_field(fields, "name", str),
            entries=_field(fields, "entries", int),
            public=_field(fields, "public", bool),
            worm=_field(fields, "worm", bool),
            locked=_field(fields, "locked", bool),
            password=_field(fields, "password", bool),
            data_size_bytes=_field(fields, "data_size_bytes", int),
            data_limits_bytes=_field(fields, "data_limits_bytes", int),
            index_size_bytes=_field(fields, "index_size_bytes", int),
            mode={"userkey": "user", "sequential": "seq"}.get(mode, mode),
            space_available=_optional(fields, "space_available", int),
            data_path=_optional(fields, "data_path", str),
            index_path=_optional(fields, "index_path", str),
            fields=fields,
        )


def parse_fields(text: str) -> dict[str, FieldValue]:
    """Parse the ``key: value`` lines of INFO and NSINFO; headers and blank lines are skipped."""
    out: dict[str, FieldValue] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, sep, raw = line.partition(":")
        if not sep:
            continue
        raw = raw.strip()
        value: FieldValue
        if raw in ("yes", "no"):
            value = raw == "yes"
        elif _NUMBER.fullmatch(raw):
            value = int(raw)
        elif _DECIMAL.fullmatch(raw):
            value = float(raw)
        else:
            value = raw
        out[name.strip()] = value
    return out


def _field(fields: dict[str, FieldValue], name: str, kind: type[_T]) -> _T:
    value = _optional(fields, name, kind)
    if value is None:
        raise ZdbError(f"NSINFO reply lacks the field {name!r}")
    return value


def _optional(fields: dict[str, FieldValue], name: str, kind: type[_T]) -> _T | None:
    value = fields.get(name)
    if value is None:
        return None
    if kind is str:
        value = str(value)
    # bool is an int: a yes/no field must not pass for a number, nor a number for yes/no
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ZdbError(f"NSINFO field {name!r} has an unexpected value {value!r}")
    return value


# -- what the client sends ------------------------------------------------------------------
def encode_key(key: Key) -> bytes:
    """The bytes sent for a key; an int is a sequential id (8 bytes, little-endian)."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bool) or not isinstance(key, int):
        raise TypeError(f"a zero-db key is bytes, str or int, not {type(key).__name__}")
    if not 0 <= key < 1 << (8 * SEQ_ID_SIZE):
        raise ValueError(f"sequential id {key} does not fit in {SEQ_ID_SIZE} bytes")
    return key.to_bytes(SEQ_ID_SIZE, "little")


def encode_value(value: Value) -> bytes:
    """The bytes sent for a value; text is sent as UTF-8."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"a zero-db value is bytes or str, not {type(value).__name__}")


def _setting(value: str | int | bool) -> bytes:
    if isinstance(value, bool):
        return b"1" if value else b"0"
    return str(value).encode()


def secure_proof(nonce: str, password: str) -> bytes:
    """0-db's answer to a challenge: lowercase hex SHA1 of ``"<nonce>:<password>"``."""
    digest = hashlib.sha1(f"{nonce}:{password}".encode(), usedforsecurity=False)
    return digest.hexdigest().encode()


# -- parsing replies ------------------------------------------------------------------------
def _text(reply: Any) -> str:
    if not isinstance(reply, bytes):
        raise ZdbError(f"expected a text reply from zero-db, got {reply!r}")
    return reply.decode(errors="replace")


def _bytes_or_none(reply: Any) -> bytes | None:
    if reply is None or isinstance(reply, bytes):
        return reply
    raise ZdbError(f"expected a bulk reply from zero-db, got {reply!r}")


def _int_or_none(reply: Any) -> int | None:
    if reply is None or isinstance(reply, int):
        return reply
    raise ZdbError(f"expected an integer reply from zero-db, got {reply!r}")


def _int(reply: Any) -> int:
    value = _int_or_none(reply)
    if value is None:
        raise ZdbError("expected an integer reply from zero-db, got nil")
    return value


def _seq_id(reply: Any) -> int:
    if not isinstance(reply, bytes) or len(reply) != SEQ_ID_SIZE:
        raise ZdbError(f"expected an {SEQ_ID_SIZE}-byte sequential id from zero-db, got {reply!r}")
    return int.from_bytes(reply, "little")


def _parse_time(reply: Any) -> tuple[int, int]:
    if not isinstance(reply, list) or len(reply) != 2:
        raise ZdbError(f"unexpected TIME reply from zero-db: {reply!r}")
    return int(reply[0]), int(reply[1])


def _parse_scan(reply: Any) -> tuple[bytes, list[ScanEntry]]:
    try:
        cursor, items = reply
        entries = [ScanEntry(bytes(k), int(s), int(t)) for k, s, t in items]
    except (TypeError, ValueError) as exc:
        raise ZdbError(f"unexpected SCAN reply from zero-db: {reply!r}") from exc
    if not isinstance(cursor, bytes):
        raise ZdbError(f"unexpected SCAN cursor from zero-db: {cursor!r}")
    return cursor, entries


def _parse_history(reply: Any, cursor: bytes | None) -> tuple[HistoryEntry, bytes | None]:
    try:
        parent, stamp, value = reply
        entry = HistoryEntry(bytes(value), int(stamp), cursor)
    except (TypeError, ValueError) as exc:
        raise ZdbError(f"unexpected HISTORY reply from zero-db: {reply!r}") from exc
    return entry, _bytes_or_none(parent)


def _parse_wait(reply: Any) -> str:
    return _text(reply)


# -- connection handshake (sans I/O, shared by the sync and async clients) ------------------
@dataclass(frozen=True, slots=True)
class Login:
    """A namespace and its password; a new object each time the client selects one."""

    namespace: str
    password: str | None = None


class Session:
    """What every connection of one client must prove and choose (shared by its pool)."""

    __slots__ = ("admin_password", "login", "secure")

    def __init__(self, admin_password: str | None, login: Login, secure: bool) -> None:
        self.admin_password = admin_password
        self.login = login
        self.secure = secure


Steps: TypeAlias = Generator[Command, Any, None]
"""Commands to send one after the other; each reply is sent back into the generator."""


def auth_steps(session: Session) -> Steps:
    """Become admin when the client has the admin password."""
    password = session.admin_password
    if password is None:
        return
    if session.secure:
        nonce = yield (b"AUTH", b"SECURE", b"CHALLENGE")
        yield (b"AUTH", b"SECURE", secure_proof(_text(nonce), password))
    else:
        yield (b"AUTH", password.encode())


def select_steps(login: Login, secure: bool, *, fresh: bool = False) -> Steps:
    """Enter the login's namespace, proving its password when it has one.

    A ``fresh`` connection is already in ``default``: entering it without a password
    costs nothing then.
    """
    if fresh and login.namespace == DEFAULT_NAMESPACE and login.password is None:
        return
    name = login.namespace.encode()
    if login.password is None:
        yield (b"SELECT", name)
    elif secure:
        # AUTH SECURE consumed the last nonce: ask for a fresh one
        nonce = yield (b"AUTH", b"SECURE", b"CHALLENGE")
        yield (b"SELECT", name, b"SECURE", secure_proof(_text(nonce), login.password))
    else:
        yield (b"SELECT", name, login.password.encode())


class _SyncZdbConnection:
    """What the client adds to redis-py's connections: its session and the login applied."""

    zdb_session: Session
    zdb_login: Login | None

    def _zdb_init(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.zdb_session = kwargs.pop("zdb_session")
        self.zdb_login = None
        kwargs["redis_connect_func"] = _connect_hook
        return kwargs


class ZdbConnection(_SyncZdbConnection, _RedisConnection):
    """A TCP connection that authenticates and selects the namespace on every connect."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**self._zdb_init(kwargs))  # type: ignore[no-untyped-call]


class ZdbUnixConnection(_SyncZdbConnection, _RedisUnixConnection):
    """A unix socket connection that authenticates and selects the namespace on every connect."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**self._zdb_init(kwargs))  # type: ignore[no-untyped-call]


_SyncConn: TypeAlias = ZdbConnection | ZdbUnixConnection


def _run_steps(conn: _SyncConn, steps: Steps) -> None:
    try:
        command = next(steps)
        while True:
            conn.send_command(*command)  # type: ignore[no-untyped-call]
            command = steps.send(conn.read_response())
    except StopIteration:
        return


def _apply_login(conn: _SyncConn, login: Login, *, fresh: bool = False) -> None:
    conn.zdb_login = None
    _run_steps(conn, select_steps(login, conn.zdb_session.secure, fresh=fresh))
    conn.zdb_login = login


def _connect_hook(conn: _SyncConn) -> None:
    """Run by redis-py each time a socket connects, before the connection is used."""
    conn.zdb_login = None
    conn.on_connect()  # type: ignore[no-untyped-call]  # RESP2: no HELLO
    session = conn.zdb_session
    _run_steps(conn, auth_steps(session))
    _apply_login(conn, session.login, fresh=True)


# -- configuration --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Address:
    """Where the server listens: a TCP host and port, or a unix socket path."""

    host: str
    port: int
    unix_socket: str | None

    def __str__(self) -> str:
        return f"unix:{self.unix_socket}" if self.unix_socket else f"{self.host}:{self.port}"


def parse_url(url: str) -> dict[str, Any]:
    """Constructor arguments from ``zdb://[:password@]host[:port][/namespace]``."""
    parts = urlsplit(url)
    if parts.scheme != "zdb":
        raise ValueError(f"not a zero-db URL (zdb://[:password@]host:port/namespace): {url!r}")
    if parts.username:
        raise ValueError("zero-db has no user names: write zdb://:password@host:port/namespace")
    kwargs: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or DEFAULT_PORT,
    }
    namespace = unquote(parts.path.lstrip("/"))
    if namespace:
        kwargs["namespace"] = namespace
    if parts.password is not None:
        if not namespace:
            raise ValueError("a password in a zdb:// URL needs a namespace: zdb://:pw@host:port/ns")
        kwargs["password"] = unquote(parts.password)
    return kwargs


def pool_kwargs(
    address: Address, session: Session, timeout: float, max_connections: int
) -> dict[str, Any]:
    """redis-py blocking pool arguments shared by both clients (connection class aside).

    The pool holds at most ``max_connections``; a caller finding them all busy waits for
    one up to ``timeout`` seconds.
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, not {max_connections!r}")
    kwargs: dict[str, Any] = {
        "max_connections": max_connections,
        "timeout": timeout,  # waiting for a free pooled connection
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),  # never resend a command (an insert must not repeat)
        "protocol": 2,
        "driver_info": None,  # no CLIENT SETINFO: zero-db does not know it
        "zdb_session": session,
    }
    if address.unix_socket:
        kwargs["path"] = address.unix_socket
    else:
        kwargs.update(host=address.host, port=address.port, socket_keepalive=True)
    return kwargs


def closes_connection(exc: redis.exceptions.RedisError) -> bool:
    """Whether the server closes the connection after this error (so it must not be reused)."""
    if not isinstance(exc, redis.exceptions.ResponseError):
        return False
    line = str(exc)
    return line in CLOSING_LINES or line.startswith("Protocol error")


def translate_error(exc: redis.exceptions.RedisError, address: Address, timeout: float) -> ZdbError:
    """The zero-db exception for a redis-py error: the one place errors are translated."""
    if isinstance(exc, redis.exceptions.TimeoutError):
        return ZdbTimeoutError(f"zero-db at {address} did not answer within {timeout:g}s ({exc})")
    if isinstance(exc, redis.exceptions.ResponseError):
        return error_from_reply(str(exc))
    if isinstance(exc, redis.exceptions.MaxConnectionsError) or str(exc) == _POOL_EXHAUSTED:
        return ZdbTimeoutError(
            f"no free connection to zero-db at {address} within {timeout:g}s: "
            "every pooled connection is busy (raise max_connections?)"
        )
    if isinstance(exc, redis.exceptions.ConnectionError):
        reason = str(exc).rstrip(".") or type(exc).__name__
        return ZdbConnectionError(f"cannot reach zero-db at {address}: {reason}; is it running?")
    return ZdbError(f"zero-db at {address}: {exc}")


def _login_repr(address: Address, login: Login) -> str:
    return f"{address}, namespace={login.namespace!r}"


def make_trust(address: Address, state: str | None, server_key: bytes | str | None) -> Trust:
    """The chain trust of a client: its state file and the server key it pins."""
    key = bytes.fromhex(server_key) if isinstance(server_key, str) else server_key
    if key is not None:
        public_key_from_bytes(key)
    return Trust(str(address), state, key)


# -- the client -----------------------------------------------------------------------------
class Client:
    """A thread-safe connection pool to one zero-db server, in one namespace at a time."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        unix_socket: str | None = None,
        namespace: str | None = None,
        password: str | None = None,
        admin_password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        secure: bool = False,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        chain_state: str | None = None,
        server_key: bytes | str | None = None,
    ) -> None:
        if password is not None and namespace is None:
            raise ValueError("password is a namespace's password: give the namespace too")
        self.address = Address(host, port, unix_socket)
        self.timeout = timeout
        self._trust = make_trust(self.address, chain_state, server_key)
        login = Login(namespace or DEFAULT_NAMESPACE, password)
        self._session = Session(admin_password, login, secure)
        kwargs = pool_kwargs(self.address, self._session, timeout, max_connections)
        kwargs["connection_class"] = ZdbUnixConnection if unix_socket else ZdbConnection
        self._pool = redis.BlockingConnectionPool(**kwargs)  # type: ignore[no-untyped-call]

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Self:
        """A client for ``zdb://[:password@]host[:port][/namespace]``; kwargs add or override."""
        return cls(**{**parse_url(url), **kwargs})

    @property
    def namespace(self) -> str:
        """The namespace this client's commands run in."""
        return self._session.login.namespace

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_login_repr(self.address, self._session.login)})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection; the client reconnects if used again."""
        self._pool.disconnect()

    # -- plumbing ---------------------------------------------------------------------------
    def _execute(self, command: Command | None, read_timeout: float | None = None) -> Any:
        """Send one command on a pooled connection in the client's namespace; its raw reply."""
        pool = self._pool
        try:
            conn: _SyncConn = pool.get_connection()  # type: ignore[no-untyped-call]
        except redis.exceptions.RedisError as exc:
            raise translate_error(exc, self.address, self.timeout) from exc
        try:
            login = self._session.login
            if conn.zdb_login is not login:
                _apply_login(conn, login)
            if command is None:
                return None
            conn.send_command(*command)  # type: ignore[no-untyped-call]
            if read_timeout is None:
                return conn.read_response()
            return conn.read_response(timeout=read_timeout)
        except redis.exceptions.RedisError as exc:
            if closes_connection(exc):
                conn.disconnect()  # type: ignore[no-untyped-call]
            timeout = self.timeout if read_timeout is None else read_timeout
            raise translate_error(exc, self.address, timeout) from exc
        finally:
            pool.release(conn)  # type: ignore[no-untyped-call]

    # -- server -----------------------------------------------------------------------------
    def ping(self) -> bool:
        """Check that the server answers (True), raising ZdbConnectionError when it does not."""
        return bool(self._execute((b"PING",)) == b"PONG")

    def time(self) -> tuple[int, int]:
        """The server's clock: (unix seconds, microseconds)."""
        return _parse_time(self._execute((b"TIME",)))

    def info(self) -> dict[str, FieldValue]:
        """The server's INFO fields (uptime, counters...), numbers as int or float."""
        return parse_fields(_text(self._execute((b"INFO",))))

    def dbsize(self) -> int:
        """Number of keys in the current namespace."""
        return _int(self._execute((b"DBSIZE",)))

    def wait(self, command: str = "*", timeout_ms: int = WAIT_DEFAULT_MS) -> str | None:
        """Block until another client runs ``command`` (``*``: any) in this namespace.

        Returns the command's name, or None when ``timeout_ms`` passed first.
        """
        args = (b"WAIT", command.encode(), str(timeout_ms).encode())
        try:
            reply = self._execute(args, read_timeout=timeout_ms / 1000 + self.timeout)
        except ZdbResponseError as exc:
            if str(exc) == "Timeout":
                return None
            raise
        return _parse_wait(reply)

    # -- keys -------------------------------------------------------------------------------
    def set(self, key: Key, value: Value) -> bytes | None:
        """Store a value; returns the key, or None when the value was already stored."""
        return _bytes_or_none(self._execute((b"SET", encode_key(key), encode_value(value))))

    def insert(self, value: Value) -> int:
        """Store a value under a new sequential id (namespaces in ``seq`` mode); the id."""
        return _seq_id(self._execute((b"SET", b"", encode_value(value))))

    def get(self, key: Key) -> bytes | None:
        """The value of a key, or None when it does not exist."""
        return _bytes_or_none(self._execute((b"GET", encode_key(key))))

    def mget(self, keys: Iterable[Key]) -> list[bytes | None]:
        """The values of several keys, in order; None for each missing key."""
        encoded = [encode_key(k) for k in keys]
        out: list[bytes | None] = []
        for start in range(0, len(encoded), MGET_BATCH):
            reply = self._execute((b"MGET", *encoded[start : start + MGET_BATCH]))
            out.extend(_bytes_or_none(v) for v in reply)
        return out

    def delete(self, key: Key) -> None:
        """Delete a key; raises KeyNotFound when it does not exist."""
        self._execute((b"DEL", encode_key(key)))

    def exists(self, key: Key) -> bool:
        """Whether a key exists."""
        return _int(self._execute((b"EXISTS", encode_key(key)))) == 1

    def check(self, key: Key) -> bool | None:
        """Whether the stored value still matches its checksum; None when the key is missing.

        False covers both a checksum mismatch and a value the server could not read.
        """
        reply = _int_or_none(self._execute((b"CHECK", encode_key(key))))
        return None if reply is None else reply == 1

    def length(self, key: Key) -> int | None:
        """The size of a key's value in bytes, or None when it does not exist."""
        return _int_or_none(self._execute((b"LENGTH", encode_key(key))))

    def keytime(self, key: Key) -> int | None:
        """Unix time (seconds) of a key's last write, or None when it does not exist."""
        return _int_or_none(self._execute((b"KEYTIME", encode_key(key))))

    def keycur(self, key: Key) -> bytes:
        """An opaque cursor at a key: ``scan(cursor)`` continues after that key."""
        return bytes(self._execute((b"KEYCUR", encode_key(key))))

    # -- walking ----------------------------------------------------------------------------
    def _scan(self, name: bytes, cursor: bytes | None) -> tuple[bytes | None, list[ScanEntry]]:
        command = (name,) if cursor is None else (name, cursor)
        try:
            return _parse_scan(self._execute(command))
        except NoMoreData:
            return cursor, []

    def scan(self, cursor: bytes | None = None) -> tuple[bytes | None, list[ScanEntry]]:
        """One batch of keys after ``cursor`` (from the first key without one).

        Returns the cursor of the batch's last key and the batch; the batch is empty and
        the cursor the one given once there is no more data. The server bounds each call's
        walk, so past many overwritten keys a batch can be short or empty with a new cursor.
        """
        return self._scan(b"SCAN", cursor)

    def rscan(self, cursor: bytes | None = None) -> tuple[bytes | None, list[ScanEntry]]:
        """Like :meth:`scan`, walking from the last key backwards."""
        return self._scan(b"RSCAN", cursor)

    def _scan_iter(self, name: bytes, cursor: bytes | None) -> Iterator[ScanEntry]:
        while True:
            after, entries = self._scan(name, cursor)
            if not entries and after == cursor:  # No more data (an empty batch may go on)
                return
            cursor = after
            yield from entries

    def scan_iter(self, cursor: bytes | None = None) -> Iterator[ScanEntry]:
        """Every key of the namespace (after ``cursor``), oldest write first, batch by batch."""
        return self._scan_iter(b"SCAN", cursor)

    def rscan_iter(self, cursor: bytes | None = None) -> Iterator[ScanEntry]:
        """Every key of the namespace (before ``cursor``), newest write first."""
        return self._scan_iter(b"RSCAN", cursor)

    def history(self, key: Key, cursor: bytes | None = None) -> Iterator[HistoryEntry]:
        """The versions of a key, newest first (from ``cursor``, an older version's cursor).

        Raises KeyNotFound (on the first step) when the key does not exist.
        """
        name = encode_key(key)
        while True:
            command = (b"HISTORY", name) if cursor is None else (b"HISTORY", name, cursor)
            try:
                reply = self._execute(command)
            except NoMoreData:
                return
            entry, cursor = _parse_history(reply, cursor)
            yield entry
            if cursor is None:
                return

    # -- the chain --------------------------------------------------------------------------
    def chain_head(self) -> SignedHead:
        """The namespace's signed head, verified and checked consistent with the last trusted.

        Raises a :class:`VerificationError` subclass naming what failed.
        """
        head = parse_head(self._execute((b"CHAIN", b"HEAD")))
        trust = self._trust
        trust.check_head(head, self.namespace)
        self._link(head)
        return head

    def chain_head_unchecked(self) -> SignedHead:
        """The namespace's signed head as the server sent it, neither verified nor trusted.

        For callers that check it their own way (``zos zdb verify``, ``anchor``).
        """
        return parse_head(self._execute((b"CHAIN", b"HEAD")))

    def chain_leaves(self, index: int, count: int) -> list[bytes]:
        """Up to ``count`` raw chain leaves from ``index`` (the server sends at most 1000)."""
        reply = self._execute((b"CHAIN", b"LEAF", b"%d" % index, b"%d" % count))
        return [bytes(leaf) for leaf in reply]

    def _link(self, head: SignedHead) -> None:
        trust = self._trust
        old = trust.consistency_needed(head)
        if old is not None:
            reply = self._execute((b"CHAIN", b"CONSISTENCY", b"%d" % old.size, b"%d" % head.size))
            trust.check_consistency(old, head, reply)
        trust.accept(head)

    def verified_get(self, key: Key) -> bytes | None:
        """GET, proven: the value's hash is in the chain under a signed, consistent head.

        None for a deleted key (proven) or a key the chain never held (absence can't be
        proven by a log). Raises a :class:`VerificationError` subclass naming what failed.
        """
        k = encode_key(key)
        try:
            reply = self._execute((b"CHAIN", b"PROOF", k))
        except KeyNotFound:
            return None
        value, head = self._trust.check_proof(self.namespace, k, reply)
        self._link(head)
        return value

    # -- namespaces -------------------------------------------------------------------------
    def select(self, namespace: str, password: str | None = None) -> None:
        """Move the whole client (every pooled connection) to another namespace.

        The namespace is entered right away, so a wrong name or password raises here, and
        the client stays where it was.
        """
        session = self._session
        previous, login = session.login, Login(namespace, password)
        session.login = login
        try:
            self._execute(None)
        except ZdbError:
            if session.login is login:
                session.login = previous
            raise

    def nsnew(self, namespace: str) -> None:
        """Create a namespace (admin)."""
        self._execute((b"NSNEW", namespace.encode()))

    def nsdel(self, namespace: str) -> None:
        """Delete a namespace and its data (admin; not the one this client is in)."""
        self._execute((b"NSDEL", namespace.encode()))

    def nslist(self) -> list[str]:
        """The names of every namespace, ``default`` first."""
        return [_text(name) for name in self._execute((b"NSLIST",))]

    def nsinfo(self, namespace: str | None = None) -> NamespaceInfo:
        """What the server reports about a namespace (the client's own by default)."""
        name = namespace if namespace is not None else self.namespace
        return NamespaceInfo.parse(_text(self._execute((b"NSINFO", name.encode()))))

    def nsset(self, namespace: str, prop: str, value: str | int | bool) -> None:
        """Change a namespace setting (admin): password, public, maxsize, worm, mode, lock, freeze.

        Booleans are sent as 1/0; ``password`` ``"*"`` removes the password.
        """
        self._execute((b"NSSET", namespace.encode(), prop.encode(), _setting(value)))

    def flush(self) -> None:
        """Delete every key of the current namespace (only a private, password-protected one)."""
        self._execute((b"FLUSH",))


__all__ = [
    "Address",
    "Client",
    "FieldValue",
    "HistoryEntry",
    "Key",
    "Login",
    "NamespaceInfo",
    "ScanEntry",
    "Session",
    "Value",
    "ZdbConnection",
    "ZdbUnixConnection",
    "closes_connection",
    "encode_key",
    "encode_value",
    "make_trust",
    "parse_fields",
    "parse_url",
    "secure_proof",
    "translate_error",
]
