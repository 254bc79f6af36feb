"""The asyncio zero-db client: :class:`AsyncClient`, the same methods as :class:`Client`, awaited.

Connections come from redis-py's asyncio pool and, like the sync client's, prove the admin
password and select the client's namespace whenever they (re)connect. A client belongs to
the event loop it is first used on; close it with ``await client.aclose()`` or
``async with``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import Any, Self, TypeAlias

import redis.asyncio
import redis.exceptions
from redis.asyncio.connection import Connection as _RedisConnection
from redis.asyncio.connection import UnixDomainSocketConnection as _RedisUnixConnection

from ..chain.signing import SignedHead
from ..chain.trust import parse_head
from ..errors import KeyNotFound, NoMoreData, ZdbError, ZdbResponseError, ZdbTimeoutError
from .sync import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_NAMESPACE,
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    MGET_BATCH,
    WAIT_DEFAULT_MS,
    Address,
    Command,
    FieldValue,
    HistoryEntry,
    Key,
    Login,
    NamespaceInfo,
    ScanEntry,
    Session,
    Steps,
    Value,
    _bytes_or_none,
    _int,
    _int_or_none,
    _login_repr,
    _parse_history,
    _parse_scan,
    _parse_time,
    _parse_wait,
    _seq_id,
    _setting,
    _text,
    auth_steps,
    closes_connection,
    encode_key,
    encode_value,
    make_trust,
    parse_fields,
    parse_url,
    pool_kwargs,
    select_steps,
    translate_error,
)


class _AsyncZdbConnection:
    """What the client adds to redis-py's asyncio connections: its session, the login applied."""

    zdb_session: Session
    zdb_login: Login | None

    def _zdb_init(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.zdb_session = kwargs.pop("zdb_session")
        self.zdb_login = None
        kwargs["redis_connect_func"] = _connect_hook
        return kwargs


class AsyncZdbConnection(_AsyncZdbConnection, _RedisConnection):
    """An asyncio TCP connection that authenticates and selects the namespace on connect."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**self._zdb_init(kwargs))


class AsyncZdbUnixConnection(_AsyncZdbConnection, _RedisUnixConnection):
    """An asyncio unix socket connection that authenticates and selects on connect."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**self._zdb_init(kwargs))


_AsyncConn: TypeAlias = AsyncZdbConnection | AsyncZdbUnixConnection


async def _run_steps(conn: _AsyncConn, steps: Steps) -> None:
    try:
        command = next(steps)
        while True:
            await conn.send_command(*command)
            command = steps.send(await conn.read_response())
    except StopIteration:
        return


async def _apply_login(conn: _AsyncConn, login: Login, *, fresh: bool = False) -> None:
    conn.zdb_login = None
    await _run_steps(conn, select_steps(login, conn.zdb_session.secure, fresh=fresh))
    conn.zdb_login = login


async def _connect_hook(conn: _AsyncConn) -> None:
    """Run by redis-py each time a socket connects, before the connection is used."""
    conn.zdb_login = None
    await conn.on_connect()  # RESP2: no HELLO
    session = conn.zdb_session
    await _run_steps(conn, auth_steps(session))
    await _apply_login(conn, session.login, fresh=True)


class AsyncClient:
    """An asyncio connection pool to one zero-db server, in one namespace at a time."""

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
        kwargs["connection_class"] = AsyncZdbUnixConnection if unix_socket else AsyncZdbConnection
        self._pool = redis.asyncio.BlockingConnectionPool(**kwargs)

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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection; the client reconnects if used again."""
        await self._pool.disconnect()

    # -- plumbing ---------------------------------------------------------------------------
    async def _execute(self, command: Command | None, read_timeout: float | None = None) -> Any:
        """Send one command on a pooled connection in the client's namespace; its raw reply."""
        pool = self._pool
        try:
            conn: _AsyncConn = await pool.get_connection()  # type: ignore[no-untyped-call]
        except redis.exceptions.RedisError as exc:
            raise translate_error(exc, self.address, self.timeout) from exc
        try:
            login = self._session.login
            if conn.zdb_login is not login:
                await _apply_login(conn, login)
            if command is None:
                return None
            await conn.send_command(*command)
            if read_timeout is None:
                return await conn.read_response()
            reply = await conn.read_response(timeout=read_timeout)
            if reply is None:  # redis-py's way of saying that this read timed out
                await conn.disconnect()
                raise ZdbTimeoutError(
                    f"zero-db at {self.address} did not answer within {read_timeout:g}s"
                )
            return reply
        except redis.exceptions.RedisError as exc:
            if closes_connection(exc):
                await conn.disconnect()
            timeout = self.timeout if read_timeout is None else read_timeout
            raise translate_error(exc, self.address, timeout) from exc
        finally:
            await pool.release(conn)

    # -- server -----------------------------------------------------------------------------
    async def ping(self) -> bool:
        """Check that the server answers (True), raising ZdbConnectionError when it does not."""
        return bool(await self._execute((b"PING",)) == b"PONG")

    async def time(self) -> tuple[int, int]:
        """The server's clock: (unix seconds, microseconds)."""
        return _parse_time(await self._execute((b"TIME",)))

    async def info(self) -> dict[str, FieldValue]:
        """The server's INFO fields (uptime, counters...), numbers as int or float."""
        return parse_fields(_text(await self._execute((b"INFO",))))

    async def dbsize(self) -> int:
        """Number of keys in the current namespace."""
        return _int(await self._execute((b"DBSIZE",)))

    async def wait(self, command: str = "*", timeout_ms: int = WAIT_DEFAULT_MS) -> str | None:
        """Block until another client runs ``command`` (``*``: any) in this namespace.

        Returns the command's name, or None when ``timeout_ms`` passed first.
        """
        args = (b"WAIT", command.encode(), str(timeout_ms).encode())
        try:
            reply = await self._execute(args, read_timeout=timeout_ms / 1000 + self.timeout)
        except ZdbResponseError as exc:
            if str(exc) == "Timeout":
                return None
            raise
        return _parse_wait(reply)

    # -- keys -------------------------------------------------------------------------------
    async def set(self, key: Key, value: Value) -> bytes | None:
        """Store a value; returns the key, or None when the value was already stored."""
        return _bytes_or_none(await self._execute((b"SET", encode_key(key), encode_value(value))))

    async def insert(self, value: Value) -> int:
        """Store a value under a new sequential id (namespaces in ``seq`` mode); the id."""
        return _seq_id(await self._execute((b"SET", b"", encode_value(value))))

    async def get(self, key: Key) -> bytes | None:
        """The value of a key, or None when it does not exist."""
        return _bytes_or_none(await self._execute((b"GET", encode_key(key))))

    async def mget(self, keys: Iterable[Key]) -> list[bytes | None]:
        """The values of several keys, in order; None for each missing key."""
        encoded = [encode_key(k) for k in keys]
        out: list[bytes | None] = []
        for start in range(0, len(encoded), MGET_BATCH):
            reply = await self._execute((b"MGET", *encoded[start : start + MGET_BATCH]))
            out.extend(_bytes_or_none(v) for v in reply)
        return out

    async def delete(self, key: Key) -> None:
        """Delete a key; raises KeyNotFound when it does not exist."""
        await self._execute((b"DEL", encode_key(key)))

    async def exists(self, key: Key) -> bool:
        """Whether a key exists."""
        return _int(await self._execute((b"EXISTS", encode_key(key)))) == 1

    async def check(self, key: Key) -> bool | None:
        """Whether the stored value still matches its checksum; None when the key is missing.

        False covers both a checksum mismatch and a value the server could not read.
        """
        reply = _int_or_none(await self._execute((b"CHECK", encode_key(key))))
        return None if reply is None else reply == 1

    async def length(self, key: Key) -> int | None:
        """The size of a key's value in bytes, or None when it does not exist."""
        return _int_or_none(await self._execute((b"LENGTH", encode_key(key))))

    async def keytime(self, key: Key) -> int | None:
        """Unix time (seconds) of a key's last write, or None when it does not exist."""
        return _int_or_none(await self._execute((b"KEYTIME", encode_key(key))))

    async def keycur(self, key: Key) -> bytes:
        """An opaque cursor at a key: ``scan(cursor)`` continues after that key."""
        return bytes(await self._execute((b"KEYCUR", encode_key(key))))

    # -- walking ----------------------------------------------------------------------------
    async def _scan(
        self, name: bytes, cursor: bytes | None
    ) -> tuple[bytes | None, list[ScanEntry]]:
        command = (name,) if cursor is None else (name, cursor)
        try:
            return _parse_scan(await self._execute(command))
        except NoMoreData:
            return cursor, []

    async def scan(self, cursor: bytes | None = None) -> tuple[bytes | None, list[ScanEntry]]:
        """One batch of keys after ``cursor`` (from the first key without one).

        Returns the cursor of the batch's last key and the batch; the batch is empty and
        the cursor the one given once there is no more data. The server bounds each call's
        walk, so past many overwritten keys a batch can be short or empty with a new cursor.
        """
        return await self._scan(b"SCAN", cursor)

    async def rscan(self, cursor: bytes | None = None) -> tuple[bytes | None, list[ScanEntry]]:
        """Like :meth:`scan`, walking from the last key backwards."""
        return await self._scan(b"RSCAN", cursor)

    async def _scan_iter(self, name: bytes, cursor: bytes | None) -> AsyncIterator[ScanEntry]:
        while True:
            after, entries = await self._scan(name, cursor)
            if not entries and after == cursor:  # No more data (an empty batch may go on)
                return
            cursor = after
            for entry in entries:
                yield entry

    def scan_iter(self, cursor: bytes | None = None) -> AsyncIterator[ScanEntry]:
        """Every key of the namespace (after ``cursor``), oldest write first, batch by batch."""
        return self._scan_iter(b"SCAN", cursor)

    def rscan_iter(self, cursor: bytes | None = None) -> AsyncIterator[ScanEntry]:
        """Every key of the namespace (before ``cursor``), newest write first."""
        return self._scan_iter(b"RSCAN", cursor)

    async def history(self, key: Key, cursor: bytes | None = None) -> AsyncIterator[HistoryEntry]:
        """The versions of a key, newest first (from ``cursor``, an older version's cursor).

        Raises KeyNotFound (on the first step) when the key does not exist.
        """
        name = encode_key(key)
        while True:
            command = (b"HISTORY", name) if cursor is None else (b"HISTORY", name, cursor)
            try:
                reply = await self._execute(command)
            except NoMoreData:
                return
            entry, cursor = _parse_history(reply, cursor)
            yield entry
            if cursor is None:
                return

    # -- the chain --------------------------------------------------------------------------
    async def chain_head(self) -> SignedHead:
        """The namespace's signed head, verified and checked consistent with the last trusted.

        Raises a :class:`VerificationError` subclass naming what failed.
        """
        head = parse_head(await self._execute((b"CHAIN", b"HEAD")))
        trust = self._trust
        trust.check_head(head, self.namespace)
        await self._link(head)
        return head

    async def chain_head_unchecked(self) -> SignedHead:
        """The namespace's signed head as the server sent it, neither verified nor trusted."""
        return parse_head(await self._execute((b"CHAIN", b"HEAD")))

    async def chain_leaves(self, index: int, count: int) -> list[bytes]:
        """Up to ``count`` raw chain leaves from ``index`` (the server sends at most 1000)."""
        reply = await self._execute((b"CHAIN", b"LEAF", b"%d" % index, b"%d" % count))
        return [bytes(leaf) for leaf in reply]

    async def _link(self, head: SignedHead) -> None:
        trust = self._trust
        old = trust.consistency_needed(head)
        if old is not None:
            reply = await self._execute(
                (b"CHAIN", b"CONSISTENCY", b"%d" % old.size, b"%d" % head.size)
            )
            trust.check_consistency(old, head, reply)
        trust.accept(head)

    async def verified_get(self, key: Key) -> bytes | None:
        """GET, proven: the value's hash is in the chain under a signed, consistent head.

        None for a deleted key (proven) or a key the chain never held (absence can't be
        proven by a log). Raises a :class:`VerificationError` subclass naming what failed.
        """
        k = encode_key(key)
        try:
            reply = await self._execute((b"CHAIN", b"PROOF", k))
        except KeyNotFound:
            return None
        value, head = self._trust.check_proof(self.namespace, k, reply)
        await self._link(head)
        return value

    # -- namespaces -------------------------------------------------------------------------
    async def select(self, namespace: str, password: str | None = None) -> None:
        """Move the whole client (every pooled connection) to another namespace.

        The namespace is entered right away, so a wrong name or password raises here, and
        the client stays where it was.
        """
        session = self._session
        previous, login = session.login, Login(namespace, password)
        session.login = login
        try:
            await self._execute(None)
        except ZdbError:
            if session.login is login:
                session.login = previous
            raise

    async def nsnew(self, namespace: str) -> None:
        """Create a namespace (admin)."""
        await self._execute((b"NSNEW", namespace.encode()))

    async def nsdel(self, namespace: str) -> None:
        """Delete a namespace and its data (admin; not the one this client is in)."""
        await self._execute((b"NSDEL", namespace.encode()))

    async def nslist(self) -> list[str]:
        """The names of every namespace, ``default`` first."""
        return [_text(name) for name in await self._execute((b"NSLIST",))]

    async def nsinfo(self, namespace: str | None = None) -> NamespaceInfo:
        """What the server reports about a namespace (the client's own by default)."""
        name = namespace if namespace is not None else self.namespace
        return NamespaceInfo.parse(_text(await self._execute((b"NSINFO", name.encode()))))

    async def nsset(self, namespace: str, prop: str, value: str | int | bool) -> None:
        """Change a namespace setting (admin): password, public, maxsize, worm, mode, lock, freeze.

        Booleans are sent as 1/0; ``password`` ``"*"`` removes the password.
        """
        await self._execute((b"NSSET", namespace.encode(), prop.encode(), _setting(value)))

    async def flush(self) -> None:
        """Delete every key of the current namespace (only a private, password-protected one)."""
        await self._execute((b"FLUSH",))


__all__ = ["AsyncClient", "AsyncZdbConnection", "AsyncZdbUnixConnection"]
