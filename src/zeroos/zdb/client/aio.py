"""The asyncio zero-db client: :class:`AsyncClient`, the same methods as :class:`Client`, awaited.

Connections come from redis-py's asyncio pool and, like the sync client's, prove the admin
password and select the client's namespace whenever they (re)connect. A client belongs to
the event loop it is first used on; close it with ``await client.aclose()`` or
``async with``.

The commands are :mod:`.steps`' (written once for both clients); this module is their asyncio
driver.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self, TypeAlias

import redis.asyncio
import redis.exceptions
from redis.asyncio.connection import Connection as _RedisConnection
from redis.asyncio.connection import UnixDomainSocketConnection as _RedisUnixConnection

from ..errors import ZdbTimeoutError
from .awaited import Awaited, log_in
from .pool import Driver, SessionConnection, closes_connection, open_pool, translate_error
from .replies import Command
from .steps import (
    Commands,
    Pipelined,
    Session,
    connect_steps,
    enter_steps,
)


async def _connect_hook(session: Session, conn: _AsyncConn) -> None:
    """Run by redis-py each time a socket connects, before the connection is used."""
    await conn.on_connect()  # RESP2: no HELLO
    await log_in(conn, connect_steps(session))


class AsyncClient(Awaited, Commands):
    """An asyncio connection pool to one zero-db server, in one namespace at a time.

    Its commands are :class:`~.steps.Commands`', awaited: ``await client.get(key)``,
    ``async for entry in client.scan_iter()``.
    """

    io: ClassVar[Literal["asyncio"]] = "asyncio"

    _pool: redis.asyncio.BlockingConnectionPool

    def _open(self, max_connections: int) -> None:
        self._pool = open_pool(_DRIVER, self.address, self._session, self.timeout, max_connections)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection; the client reconnects if used again."""
        await self._pool.disconnect()

    # -- the driver -------------------------------------------------------------------------
    async def _execute(
        self, command: Command | Pipelined | None, read_timeout: float | None = None
    ) -> Any:
        """Send one command on a pooled connection in the client's namespace; its raw reply
        (the list of them for commands :class:`Pipelined`)."""
        pool = self._pool
        try:
            conn: _AsyncConn = await pool.get_connection()  # type: ignore[no-untyped-call]
        except redis.exceptions.RedisError as exc:
            raise translate_error(exc, self.address, self.timeout) from exc
        try:
            login = self._session.login
            if conn.zdb_login is not login:
                await log_in(conn, enter_steps(login, self._session.secure))
            if command is None:
                return None
            if isinstance(command, Pipelined):
                await conn.send_packed_command(conn.pack_commands(command.commands))
                return [await conn.read_response() for _ in command.commands]
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
            # a pipeline cut short leaves replies unread on the connection: it is not reused
            if closes_connection(exc) or isinstance(command, Pipelined):
                await conn.disconnect()
            timeout = self.timeout if read_timeout is None else read_timeout
            raise translate_error(exc, self.address, timeout) from exc
        finally:
            await pool.release(conn)


class AsyncZdbConnection(SessionConnection, _RedisConnection):
    """An asyncio TCP connection that authenticates and selects the namespace on connect."""


class AsyncZdbUnixConnection(SessionConnection, _RedisUnixConnection):
    """An asyncio unix socket connection that authenticates and selects on connect."""


_AsyncConn: TypeAlias = AsyncZdbConnection | AsyncZdbUnixConnection


_DRIVER = Driver(
    redis.asyncio.BlockingConnectionPool, AsyncZdbConnection, AsyncZdbUnixConnection, _connect_hook
)


__all__ = ["AsyncClient", "AsyncZdbConnection", "AsyncZdbUnixConnection"]
