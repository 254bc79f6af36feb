"""The zero-db client: talk to a zero-db (or 0-db) server from Python, synchronously.

Built on redis-py's connection pool and hiredis parser, speaking RESP2. Every pooled
connection proves the admin password and selects the client's namespace as soon as it
connects, and again before its next command whenever :meth:`Client.select` changed the
namespace, so a reconnect never lands in the ``default`` namespace unnoticed.

Commands are never retried: a broken connection raises :class:`ZdbConnectionError` and the
next call opens a fresh one. Server error lines become the typed exceptions of
:mod:`zeroos.zdb.errors`; :func:`translate_error` is the one place where redis-py's errors
are turned into them.

What each command sends and how its reply is read is written once in :mod:`.steps`; this
module is its blocking driver, :mod:`.aio` (:class:`AsyncClient`) the asyncio one.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any, ClassVar, Literal, Self, TypeAlias, TypeVar

import redis
import redis.exceptions
from redis.connection import Connection as _RedisConnection
from redis.connection import UnixDomainSocketConnection as _RedisUnixConnection

from ..errors import ZdbError
from .pool import Driver, SessionConnection, closes_connection, open_pool, translate_error
from .replies import (
    Command,
    FieldValue,
    HistoryEntry,
    Key,
    NamespaceInfo,
    ScanEntry,
    Value,
    encode_key,
    encode_value,
    parse_fields,
    secure_proof,
)
from .steps import (
    Address,
    Commands,
    Exchange,
    Flow,
    Login,
    Pipelined,
    Request,
    Run,
    Send,
    Session,
    connect_steps,
    enter_steps,
    make_trust,
    parse_url,
)
from .steps import select_steps as select_steps  # the handshake's steps, where tests look

_T = TypeVar("_T")


def _login(conn: _SyncConn, steps: Generator[Command, Any, Login]) -> None:
    """Run login steps on one connection: it is in their login once they succeed (and in
    none known while they run, so that a failure is never taken for the old login)."""
    conn.zdb_login = None
    run = Run(steps)
    command = run.advance()
    while command is not None:
        conn.send_command(*command)  # type: ignore[no-untyped-call]
        command = run.advance(conn.read_response())
    conn.zdb_login = run.result


def _connect_hook(session: Session, conn: _SyncConn) -> None:
    """Run by redis-py each time a socket connects, before the connection is used."""
    conn.on_connect()  # type: ignore[no-untyped-call]  # RESP2: no HELLO
    _login(conn, connect_steps(session))


class Client(Commands):
    """A thread-safe connection pool to one zero-db server, in one namespace at a time.

    Its commands (``get``, ``set``, ``scan_iter``...) are :class:`~.steps.Commands`', run
    blocking: ``client.get(key)``.
    """

    io: ClassVar[Literal["blocking"]] = "blocking"

    _pool: redis.BlockingConnectionPool

    def _open(self, max_connections: int) -> None:
        self._pool = open_pool(_DRIVER, self.address, self._session, self.timeout, max_connections)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection; the client reconnects if used again."""
        self._pool.disconnect()

    # -- the driver -------------------------------------------------------------------------
    def _execute(
        self, command: Command | Pipelined | None, read_timeout: float | None = None
    ) -> Any:
        """Send one command on a pooled connection in the client's namespace; its raw reply
        (the list of them for commands :class:`Pipelined`)."""
        pool = self._pool
        try:
            conn: _SyncConn = pool.get_connection()  # type: ignore[no-untyped-call]
        except redis.exceptions.RedisError as exc:
            raise translate_error(exc, self.address, self.timeout) from exc
        try:
            login = self._session.login
            if conn.zdb_login is not login:
                _login(conn, enter_steps(login, self._session.secure))
            if command is None:
                return None
            if isinstance(command, Pipelined):
                conn.send_packed_command(conn.pack_commands(command.commands))  # type: ignore[no-untyped-call]
                return [conn.read_response() for _ in command.commands]
            conn.send_command(*command)  # type: ignore[no-untyped-call]
            if read_timeout is None:
                return conn.read_response()
            return conn.read_response(timeout=read_timeout)
        except redis.exceptions.RedisError as exc:
            # a pipeline cut short leaves replies unread on the connection: it is not reused
            if closes_connection(exc) or isinstance(command, Pipelined):
                conn.disconnect()  # type: ignore[no-untyped-call]
            timeout = self.timeout if read_timeout is None else read_timeout
            raise translate_error(exc, self.address, timeout) from exc
        finally:
            pool.release(conn)  # type: ignore[no-untyped-call]

    def _exchange(self, request: Send) -> tuple[Any, ZdbError | None]:
        """One request of a dialog or stream: its reply, or the zero-db error it met."""
        try:
            if isinstance(request, Request):
                return self._execute(request.command, request.read_timeout), None
            return self._execute(request), None
        except ZdbError as exc:
            return None, exc

    def _talk(self, steps: Exchange[_T]) -> _T:
        """Run a dialog's steps to their result."""
        run = Run(steps)
        request = run.advance()
        while request is not None:
            request = run.advance(*self._exchange(request))
        return run.result  # type: ignore[no-any-return]

    def _flow(self, steps: Flow[_T]) -> Iterator[_T]:
        """Run a stream's steps, handing out its batches' items as they come."""
        run = Run(steps)
        request = run.advance()
        while True:
            yield from run.take()
            if request is None:
                return
            request = run.advance(*self._exchange(request))

    _call_source = "def method({params}):\n    return read(self._execute(build({args})))"

    @staticmethod
    def _dialog_method(steps: Callable[..., Exchange[Any]]) -> Callable[..., Any]:
        def dialog(self: Client, /, *args: Any, **kwargs: Any) -> Any:
            return self._talk(steps(self, *args, **kwargs))

        return dialog


class ZdbConnection(SessionConnection, _RedisConnection):
    """A TCP connection that authenticates and selects the namespace on every connect."""


class ZdbUnixConnection(SessionConnection, _RedisUnixConnection):
    """A unix socket connection that authenticates and selects the namespace on every connect."""


_SyncConn: TypeAlias = ZdbConnection | ZdbUnixConnection


_DRIVER = Driver(redis.BlockingConnectionPool, ZdbConnection, ZdbUnixConnection, _connect_hook)


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
