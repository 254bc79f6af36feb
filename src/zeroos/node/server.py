"""The node's redis side: the list commands 0-core-client uses, over plain RESP or TLS.

Plain and TLS clients share one port: a TLS client's first byte is a handshake record (0x16),
a RESP client's is ``*``. Plain RESP is taken from loopback only (0-core-client sends its
token as the redis password). RESP parsing is zero-db's (:class:`RequestReader`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable

from .._version import __version__
from ..common.log import event
from ..zdb.protocol import (
    NIL,
    OK,
    ProtocolViolation,
    RequestReader,
    array,
    bulk,
    error,
    integer,
)
from .auth import Gate
from .lists import Lists

log = logging.getLogger("zeroos.node")

TLS_RECORD = 0x16  # the first byte of a TLS ClientHello
FIRST_BYTE_TIMEOUT = 30.0  # a connection that says nothing this long is closed
HANDSHAKE_TIMEOUT = 10.0
READ_SIZE = 256 * 1024

# commands a client may send before AUTH: the handshakes of redis-py 3.x to 8.x
_BEFORE_AUTH = {b"AUTH", b"PING", b"HELLO", b"CLIENT", b"QUIT", b"SELECT"}


class _Protocol(asyncio.StreamReaderProtocol):
    """A stream protocol that says when the client is gone, even while nothing reads."""

    def __init__(self, reader: asyncio.StreamReader, gone: asyncio.Event) -> None:
        super().__init__(reader)
        self.gone = gone

    def eof_received(self) -> bool:
        # a redis client does not half-close to wait for answers: its EOF is its end
        self.gone.set()
        return bool(super().eof_received())

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone.set()
        super().connection_lost(exc)


class Connection:
    """One client: its authentication and its commands, answered in order."""

    def __init__(
        self, server: NodeServer, writer: asyncio.StreamWriter, gone: asyncio.Event
    ) -> None:
        self.server = server
        self.writer = writer
        self.gone = gone
        self.authed = server.gate.open
        self.closing = False

    async def wait_pop(
        self, keys: list[bytes], timeout: float, *, left: bool, into: bytes | None = None
    ) -> tuple[bytes, bytes] | None:
        """A blocking pop that gives up when the client goes: it must not take a value away."""
        lists = self.server.lists
        for key in keys:  # most pops find their value there: no tasks for them
            value = lists.pop(key, left=left, into=into)
            if value is not None:
                return key, value
        pop = asyncio.ensure_future(self.server.lists.wait_pop(keys, timeout, left=left, into=into))
        gone = asyncio.ensure_future(self.gone.wait())
        try:
            await asyncio.wait([pop, gone], return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if pop.done():
            return pop.result()
        pop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pop
        raise ConnectionResetError("the client went away during a blocking pop")

    async def execute(self, cmd: list[bytes]) -> bytes:
        name = cmd[0].upper()
        if not self.authed and name not in _BEFORE_AUTH:
            return b"-NOAUTH Authentication required.\r\n"
        handler = self.server.handlers.get(name)
        if handler is None:
            return error(f"ERR unknown command '{cmd[0].decode(errors='replace')}'")
        try:
            return await handler(self, cmd[1:])
        except (ValueError, IndexError):
            return error(f"ERR wrong arguments for '{cmd[0].decode(errors='replace').lower()}'")


def _number(raw: bytes) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError("negative")
    return value


class NodeServer:
    """Answers the redis commands of 0-core's protocol on one listening socket."""

    def __init__(self, lists: Lists, gate: Gate, tls: ssl.SSLContext) -> None:
        self.lists = lists
        self.gate = gate
        self.tls = tls
        self.handlers: dict[bytes, Callable[[Connection, list[bytes]], Awaitable[bytes]]] = {
            b"PING": self.ping,
            b"AUTH": self.auth,
            b"HELLO": self.hello,
            b"CLIENT": self.client,
            b"SELECT": self.select,
            b"QUIT": self.quit,
            b"RPUSH": self.rpush,
            b"LPUSH": self.lpush,
            b"LPOP": self.lpop,
            b"RPOP": self.rpop,
            b"BLPOP": self.blpop,
            b"BRPOP": self.brpop,
            b"BRPOPLPUSH": self.brpoplpush,
            b"LRANGE": self.lrange,
            b"LLEN": self.llen,
            b"LKEYEXISTS": self.lkeyexists,
            b"EXISTS": self.exists,
            b"LTTL": self.ttl,
            b"TTL": self.ttl,
            b"EXPIRE": self.expire,
            b"DEL": self.delete,
        }
        self._clients: set[asyncio.Task[None]] = set()

    # -- the network side

    async def serve(self, listener: socket.socket) -> None:
        """Accept clients on ``listener`` until cancelled; then close them all."""
        loop = asyncio.get_running_loop()
        listener.setblocking(False)
        try:
            while True:
                sock, peer = await loop.sock_accept(listener)
                task = asyncio.create_task(self._client(sock, peer))
                self._clients.add(task)
                task.add_done_callback(self._clients.discard)
        finally:
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)

    async def _first_byte(self, sock: socket.socket) -> int | None:
        """The first byte the client sent, left unread in the socket; None if it said nothing."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(sock.fileno(), readable)
        try:
            await asyncio.wait_for(ready, FIRST_BYTE_TIMEOUT)
        except TimeoutError:
            return None
        finally:
            loop.remove_reader(sock.fileno())
        try:
            head = sock.recv(1, socket.MSG_PEEK)
        except OSError:
            return None
        return head[0] if head else None

    async def _client(self, sock: socket.socket, peer: object) -> None:
        sock.setblocking(False)
        loopback = _is_loopback(peer)
        try:
            first = await self._first_byte(sock)
            if first is None:
                sock.close()
                return
            use_tls = first == TLS_RECORD
            if not use_tls and not loopback:
                # plain text would carry the token in the clear
                with contextlib.suppress(OSError):
                    sock.send(error("ERR this node takes TLS only from outside loopback"))
                sock.close()
                return
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader(limit=READ_SIZE)
            gone = asyncio.Event()
            protocol = _Protocol(reader, gone)
            transport, _ = await loop.connect_accepted_socket(
                lambda: protocol,
                sock,
                ssl=self.tls if use_tls else None,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT if use_tls else None,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            event(log, "connection_refused", level=logging.DEBUG, peer=str(peer), reason=str(exc))
            sock.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        try:
            await self._converse(reader, Connection(self, writer, gone))
        except (ConnectionError, ssl.SSLError, OSError):
            transport.abort()  # the client went away
        except asyncio.CancelledError:
            # the node stops: a TLS close would wait for the client's close_notify
            transport.abort()
            raise
        else:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), HANDSHAKE_TIMEOUT)

    async def _converse(self, reader: asyncio.StreamReader, conn: Connection) -> None:
        requests = RequestReader()
        while not conn.closing:
            data = await reader.read(READ_SIZE)
            if not data:
                return
            requests.feed(data)
            while not conn.closing:
                try:
                    cmd = requests.get()
                except ProtocolViolation as exc:
                    conn.writer.write(error(f"ERR {exc.line}"))
                    if exc.close:
                        return
                    continue
                if cmd is None:
                    break
                conn.writer.write(await conn.execute(cmd))
            await conn.writer.drain()

    # -- connection commands

    async def ping(self, conn: Connection, args: list[bytes]) -> bytes:
        return bulk(args[0]) if args else b"+PONG\r\n"

    async def _login(self, conn: Connection, password: bytes) -> str | None:
        """Check a password (AUTH, HELLO ... AUTH); the refusal line, or None."""
        refused = None if self.gate.open else await self.gate.check(password.decode("latin-1"))
        conn.authed = refused is None
        if refused is not None:
            event(log, "auth_refused", level=logging.WARNING, reason=refused)
        return refused

    async def auth(self, conn: Connection, args: list[bytes]) -> bytes:
        if not args or len(args) > 2:
            raise ValueError("AUTH [user] password")
        refused = await self._login(conn, args[-1])
        return OK if refused is None else error(refused)

    async def hello(self, conn: Connection, args: list[bytes]) -> bytes:
        """redis-py 8's handshake: ``HELLO 3 [AUTH user password] [SETNAME name]``.

        Every other reply of the node reads the same in RESP2 and RESP3: only this one differs
        (a map in RESP3, a flat array in RESP2).
        """
        proto = int(args[0]) if args else 2
        if proto not in (2, 3):
            return error("NOPROTO unsupported protocol version")
        rest = args[1:]
        while rest:
            option = rest[0].upper()
            if option == b"AUTH" and len(rest) >= 3:
                refused = await self._login(conn, rest[2])
                if refused is not None:
                    return error(refused)
                rest = rest[3:]
            elif option == b"SETNAME" and len(rest) >= 2:
                rest = rest[2:]
            else:
                return error("ERR Syntax error in HELLO option")
        if not conn.authed:
            return b"-NOAUTH HELLO must be called with the client's token (AUTH)\r\n"
        fields = {
            b"server": bulk(b"zos node"),
            b"version": bulk(__version__.encode()),
            b"proto": integer(proto),
            b"mode": bulk(b"standalone"),
            b"role": bulk(b"master"),
            b"modules": b"*0\r\n",
        }
        head = b"%%%d\r\n" % len(fields) if proto == 3 else b"*%d\r\n" % (2 * len(fields))
        return head + b"".join(bulk(name) + value for name, value in fields.items())

    async def client(self, conn: Connection, args: list[bytes]) -> bytes:
        # SETINFO, SETNAME (redis-py's handshake): noted nowhere, answered OK
        return OK

    async def select(self, conn: Connection, args: list[bytes]) -> bytes:
        return OK if args and args[0] == b"0" else error("ERR this node has database 0 only")

    async def quit(self, conn: Connection, args: list[bytes]) -> bytes:
        conn.closing = True
        return OK

    # -- lists

    async def rpush(self, conn: Connection, args: list[bytes]) -> bytes:
        if len(args) < 2:
            raise ValueError("RPUSH key value...")
        return integer(self.lists.push(args[0], args[1:]))

    async def lpush(self, conn: Connection, args: list[bytes]) -> bytes:
        if len(args) < 2:
            raise ValueError("LPUSH key value...")
        return integer(self.lists.push(args[0], args[1:], left=True))

    async def lpop(self, conn: Connection, args: list[bytes]) -> bytes:
        value = self.lists.pop(args[0])
        return NIL if value is None else bulk(value)

    async def rpop(self, conn: Connection, args: list[bytes]) -> bytes:
        value = self.lists.pop(args[0], left=False)
        return NIL if value is None else bulk(value)

    async def _bpop(self, conn: Connection, args: list[bytes], *, left: bool) -> bytes:
        if len(args) < 2:
            raise ValueError("key... timeout")
        popped = await conn.wait_pop(args[:-1], _number(args[-1]), left=left)
        if popped is None:
            return b"*-1\r\n"
        return array([bulk(popped[0]), bulk(popped[1])])

    async def blpop(self, conn: Connection, args: list[bytes]) -> bytes:
        return await self._bpop(conn, args, left=True)

    async def brpop(self, conn: Connection, args: list[bytes]) -> bytes:
        return await self._bpop(conn, args, left=False)

    async def brpoplpush(self, conn: Connection, args: list[bytes]) -> bytes:
        if len(args) != 3:
            raise ValueError("BRPOPLPUSH source destination timeout")
        popped = await conn.wait_pop([args[0]], _number(args[2]), left=False, into=args[1])
        return NIL if popped is None else bulk(popped[1])

    async def lrange(self, conn: Connection, args: list[bytes]) -> bytes:
        if len(args) != 3:
            raise ValueError("LRANGE key start stop")
        return array([bulk(v) for v in self.lists.range(args[0], int(args[1]), int(args[2]))])

    async def llen(self, conn: Connection, args: list[bytes]) -> bytes:
        return integer(self.lists.length(args[0]))

    async def lkeyexists(self, conn: Connection, args: list[bytes]) -> bytes:
        return integer(int(self.lists.exists(args[0])))

    async def exists(self, conn: Connection, args: list[bytes]) -> bytes:
        if not args:
            raise ValueError("EXISTS key...")
        return integer(sum(self.lists.exists(key) for key in args))

    async def ttl(self, conn: Connection, args: list[bytes]) -> bytes:
        return integer(self.lists.ttl(args[0]))

    async def expire(self, conn: Connection, args: list[bytes]) -> bytes:
        if len(args) != 2:
            raise ValueError("EXPIRE key seconds")
        return integer(int(self.lists.expire(args[0], int(args[1]))))

    async def delete(self, conn: Connection, args: list[bytes]) -> bytes:
        if not args:
            raise ValueError("DEL key...")
        return integer(sum(self.lists.delete(key) for key in args))


def _is_loopback(peer: object) -> bool:
    host = peer[0] if isinstance(peer, tuple) and peer else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


__all__ = ["NodeServer"]
