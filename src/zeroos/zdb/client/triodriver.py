"""The trio zero-db client: :class:`TrioClient`, :class:`AsyncClient`'s methods for trio's loop.

For programs that run under trio (the flist mount serves FUSE on trio's loop, and fetches its
blocks without a thread hand-over per block): the commands are :mod:`.steps`' (written once for
every client), sent over trio sockets and read with hiredis' parser; redis-py's async side is
asyncio's. Like the other clients, a connection proves the admin password and selects the
client's namespace when it connects, and again when :meth:`select` changed the namespace; a
command is never retried; a connection that failed mid-command is closed, never reused.
Errors become zero-db's exceptions in :func:`~.pool.translate_error`, the one place.
"""

from __future__ import annotations

import os
import select
from typing import Any, ClassVar, Literal, Self

import hiredis
import redis.exceptions
import trio

# redis-py's own error-reply parser (re-exported by redis.connection for its users)
from redis.connection import BaseParser  # type: ignore[attr-defined]

from .awaited import Awaited, log_in
from .pool import closes_connection, translate_error
from .replies import Command
from .steps import Commands, Login, Pipelined, connect_steps, enter_steps

_RedisError = redis.exceptions.RedisError
_READ_SIZE = 1 << 20  # a 1 MiB block comes in a few reads


class _Connection:
    """One socket to the server, its reply parser, and the login it is in."""

    __slots__ = ("parser", "stream", "zdb_login")

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        # error replies come back as redis-py's exceptions, as from redis-py's own parser
        self.parser = hiredis.Reader(
            protocolError=redis.exceptions.InvalidResponse, replyError=BaseParser.parse_error
        )
        self.zdb_login: Login | None = None  # the login it is in (awaited.log_in sets it)

    async def send_command(self, *parts: bytes | str | int) -> None:
        """Send one command (as redis-py's connections do)."""
        # hiredis' stub types a command as a one-item tuple; it takes any number of parts
        await self.stream.send_all(hiredis.pack_command(parts))  # type: ignore[arg-type]

    async def send_commands(self, commands: tuple[Command, ...]) -> None:
        """Send several commands in one write (a pipeline)."""
        packed = [hiredis.pack_command(c) for c in commands]  # type: ignore[arg-type]
        await self.stream.send_all(b"".join(packed))

    def stale(self) -> bool:
        """Whether the server closed this idle connection (or sent what nobody asked for):
        checked before reuse, as redis-py does, so a restarted server costs no failed call."""
        socket = getattr(self.stream, "socket", None)
        if socket is None:
            return False
        poller = select.poll()
        poller.register(socket.fileno(), select.POLLIN)
        return bool(poller.poll(0))

    async def read_response(self) -> Any:
        """The next reply; an error reply raised as redis-py's exception."""
        while True:
            reply = self.parser.gets()
            if reply is not False:
                if isinstance(reply, redis.exceptions.RedisError):
                    raise reply
                return reply
            data = await self.stream.receive_some(_READ_SIZE)
            if not data:
                raise redis.exceptions.ConnectionError("the server closed the connection")
            self.parser.feed(data)  # type: ignore[arg-type]  # any buffer (stub: bytes)

    def close(self) -> None:
        socket = getattr(self.stream, "socket", None)
        if socket is None:
            return
        if trio.lowlevel.in_trio_run():
            socket.close()  # wakes any task of the run waiting on it
        else:  # after the run ended (a mount closes its stores then): nobody waits on it
            os.close(socket.detach())


class TrioClient(Awaited, Commands):
    """Connections to one zero-db server for trio, in one namespace at a time.

    Its commands are :class:`~.steps.Commands`', awaited: ``await client.mget(keys)``. At
    most ``max_connections`` are open; a caller finding them all busy waits for one up to
    ``timeout`` seconds. Each command's reply is awaited at most ``timeout`` seconds (or
    its own longer wait).
    """

    io: ClassVar[Literal["trio"]] = "trio"

    def _open(self, max_connections: int) -> None:
        if not self.timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {self.timeout!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {max_connections!r}")
        self._idle: list[_Connection] = []
        self._slots = trio.Semaphore(max_connections)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the idle connections; the client reconnects if used again.

        Also from another thread than the run's (the mount service drops an flist's stores
        from a worker thread): the list is swapped out first, so a connection is either
        taken by the run or closed here, never both."""
        idle, self._idle = self._idle, []
        while (conn := _take(idle)) is not None:
            conn.close()

    async def aclose(self) -> None:
        """The same as :meth:`close`, awaited (as :class:`AsyncClient`'s)."""
        self.close()

    async def _connect(self) -> _Connection:
        address = self.address
        if address.unix_socket:
            stream: trio.abc.Stream = await trio.open_unix_socket(address.unix_socket)
        else:
            stream = await trio.open_tcp_stream(address.host, address.port)
        conn = _Connection(stream)
        try:
            await log_in(conn, connect_steps(self._session))
        except BaseException:
            conn.close()
            raise
        return conn

    async def _execute(
        self, command: Command | Pipelined | None, read_timeout: float | None = None
    ) -> Any:
        """Send one command on a connection in the client's namespace; its raw reply (the
        list of them for commands :class:`Pipelined`)."""
        timeout = self.timeout if read_timeout is None else read_timeout
        try:
            with trio.fail_after(self.timeout):
                await self._slots.acquire()
        except trio.TooSlowError as exc:
            busy = redis.exceptions.MaxConnectionsError("every connection is busy")
            raise translate_error(busy, self.address, self.timeout) from exc
        idle = self._idle
        while (conn := _take(idle)) is not None and conn.stale():
            conn.close()
        try:
            with trio.fail_after(self.timeout):
                if conn is None:
                    conn = await self._connect()
                if conn.zdb_login is not self._session.login:
                    await log_in(conn, enter_steps(self._session.login, self._session.secure))
            if command is None:
                reply: Any = None
            else:
                with trio.fail_after(timeout):
                    if isinstance(command, Pipelined):
                        await conn.send_commands(command.commands)
                        reply = [await conn.read_response() for _ in command.commands]
                    else:
                        await conn.send_command(*command)
                        reply = await conn.read_response()
            self._idle.append(conn)
            conn = None
            return reply
        except redis.exceptions.RedisError as exc:
            # an error reply leaves the connection usable, unless the server closes it after
            # this one or a pipeline cut short left replies unread on it
            usable = isinstance(exc, redis.exceptions.ResponseError) and not (
                closes_connection(exc) or isinstance(command, Pipelined)
            )
            if usable and conn is not None:
                self._idle.append(conn)
                conn = None
            raise translate_error(exc, self.address, timeout) from exc
        except trio.TooSlowError as exc:
            error = _as_redis(redis.exceptions.TimeoutError("no reply"), exc)
            raise translate_error(error, self.address, timeout) from error
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            error = _as_redis(redis.exceptions.ConnectionError(_reason(exc)), exc)
            raise translate_error(error, self.address, timeout) from error
        finally:
            if conn is not None:
                conn.close()
            self._slots.release()


def _take(idle: list[_Connection]) -> _Connection | None:
    """An idle connection, or None: each is taken once, by the run or by a closing thread
    (list.pop is atomic), never by both."""
    try:
        return idle.pop()
    except IndexError:
        return None


def _as_redis(
    error: redis.exceptions.RedisError, exc: BaseException
) -> redis.exceptions.RedisError:
    """A trio failure as redis-py's kind of it, as the other clients meet it, so that the one
    translation (:func:`~.pool.translate_error`) turns it into zero-db's."""
    error.__cause__ = exc
    return error


def _reason(exc: BaseException) -> str:
    """Why a socket failed, in the system's words where there are some (trio wraps a failed
    connect: "all attempts to connect ... failed", the reason in its cause)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        group = getattr(seen, "exceptions", None)
        seen = group[0] if group else seen.__cause__
    return str(exc) or type(exc).__name__


__all__ = ["TrioClient"]
