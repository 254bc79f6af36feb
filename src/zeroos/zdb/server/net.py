"""zero-db's network side: RESP over TCP and a unix socket, on one asyncio event loop.

Replies of a batch of commands go out together after the engine flushed the batch's writes,
so an acknowledged write is always in the kernel (and, with ``sync``, on disk) first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from dataclasses import dataclass
from typing import cast

from ...common.address import parse_address
from ...common.service import ready_file, stop_on_signals
from ..engine import Engine
from ..errors import INTERNAL_ERROR, CorruptData, ReplyError, StorageError, ZdbError
from ..namespace import Mode
from ..protocol import MAX_ARGS, MAX_BUFFER, MAX_BULK, ProtocolViolation, RequestReader, error
from .commands import Commands, Session, Waiter

log = logging.getLogger("zeroos.zdb")

DRAIN_SECONDS = 2.0
REPLY_CHUNK = 1024 * 1024
MIRROR_BACKLOG = 64 * 1024 * 1024  # a mirror this far behind is dropped, not buffered for


@dataclass(slots=True)
class ServerConfig:
    """How a zero-db server listens and keeps its data."""

    listen: str = "127.0.0.1"
    port: int | None = 9900
    socket: str | None = None
    sync: bool = False
    synctime: float = 0.0  # seconds between forced fsyncs; 0 means never
    ready_file: str | None = None  # JSON written once listening (zeroos.common.service)


class Connection(asyncio.Protocol):
    """One client: reads commands, runs them in order, writes the replies."""

    def __init__(self, server: ZdbServer) -> None:
        self.server = server
        commands = self.commands = server.commands
        self.stats = commands.stats
        # what data_received's inlined Commands.execute uses, looked up once
        self._handler_of = commands.handlers.get
        self._waiters = commands.waiters
        self._mirrors = commands.mirrors
        self._failed = commands.failed
        self._execute = commands.execute
        self.reader = RequestReader()
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.peer = "?"
        self.parked: Waiter | None = None
        self._park_timer: asyncio.TimerHandle | None = None
        self._held: list[bytes] | None = None  # replies waiting for the iteration's flush
        self._draining = False
        self._paused_by_writer = False
        self._yielded = False  # a walk gave the other clients their turn (_take_turns)

    # -- asyncio callbacks ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "unix"
        address = str(peer[0]) if isinstance(peer, tuple) else "unix"
        self.session = self.commands.new_session(address)
        self.session.push = self._push
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self._unpark()
        if self.session is not None:
            self.commands.end_session(self.session)
        self.transport = None

    def pause_writing(self) -> None:
        # the client does not read its replies: stop reading its commands (bounded memory)
        if self.transport is not None:
            self._paused_by_writer = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and self._paused_by_writer:
            self._paused_by_writer = False
            if self.parked is None and not self._draining and not self._yielded:
                self.transport.resume_reading()
                self.process()  # commands left in the reader when writing paused

    def data_received(self, data: bytes) -> None:
        """Run the whole commands buffered so far; their replies wait for the group flush.

        Replies are handed over early once they pass REPLY_CHUNK; if the client then stops
        reading (the transport pauses writing) the rest waits in the reader: a client that
        does not read cannot make the server hold more than about one chunk of replies.
        """
        # This is the per-request hot path, so RequestReader.get and Commands.execute (for
        # the common case) are inlined: a Python call costs about as much as the checks it
        # saves.
        if self._draining:
            return
        received = len(data)
        stats = self.stats
        stats.network_rx_bytes += received
        reader = self.reader
        if received:
            reader.feed(data)
        session = self.session
        if session is None or self.transport is None or self.parked is not None:
            return
        gets = reader.gets
        buffered = reader.buffered
        handler_of = self._handler_of
        waiters = self._waiters
        mirrors = self._mirrors
        out: list[bytes] = []
        size = 0  # of the replies in out
        while True:
            try:
                raw = gets()
            except Exception as exc:  # hiredis lost the stream
                self._violation(out, reader.broken(exc))
                return
            # RequestReader.accept's common case: a whole command of bulk strings
            cmd: list[bytes] | None = None
            if type(raw) is list and 0 < len(raw) <= MAX_ARGS and reader.pending <= MAX_BULK:
                for arg in raw:
                    if type(arg) is not bytes:
                        break
                else:
                    reader.pending = buffered()
                    cmd = raw
            if cmd is None:
                if raw is False and reader.pending <= MAX_BUFFER and reader.violation is None:
                    break
                try:
                    cmd = reader.accept(raw)
                except ProtocolViolation as exc:
                    if self._violation(out, exc):
                        return
                    continue
                if cmd is None:
                    break
            handler = handler_of(cmd[0])
            try:
                if handler is None or waiters or mirrors or session.store.dropped:
                    reply = self._execute(session, cmd)
                else:  # all that Commands.execute does in this case
                    stats.commands_executed += 1
                    try:
                        reply = handler(session, cmd)
                    except (ReplyError, CorruptData, StorageError) as exc:
                        reply = self._failed(session, exc)
            except ReplyError as exc:
                out.append(error(exc.line))
                self._reply(out)
                self._drain_and_close()
                return
            except ZdbError as exc:  # storage failed: answer, keep serving others
                log.error("event=storage_error peer=%s error=%r", self.peer, str(exc))
                reply = error(f"{INTERNAL_ERROR}: {exc}")
            except Exception:  # a bug must cost one reply, not the server or the connection
                log.exception("event=internal_error peer=%s command=%r", self.peer, cmd[0][:32])
                reply = error(INTERNAL_ERROR)
            waiter = session.waiter
            if waiter is not None:
                session.waiter = None
                if isinstance(waiter, Waiter):
                    self._park(waiter, reply)
                    break
                # a walk (Yield): answer it, run the rest after the other clients' turn
                out.append(reply)
                self._reply(out)
                self._take_turns()
                return
            out.append(reply)
            size += len(reply)
            if size > REPLY_CHUNK:
                self._reply(out)
                out, size = [], 0
                if self._held is not None:
                    self.server.commit_now()
                if self._paused_by_writer or self.transport is None:
                    return
        self._reply(out)

    # -- running commands -------------------------------------------------------------------
    def process(self) -> None:
        """Run the whole commands already buffered (after a WAIT woke or writing resumed)."""
        self.data_received(b"")

    def _violation(self, out: list[bytes], exc: ProtocolViolation) -> bool:
        """Answer a protocol violation; True when the connection is closing."""
        out.append(error(exc.line))
        if not exc.close:
            return False
        log.info("event=protocol_error peer=%s error=%r", self.peer, exc.line)
        self._reply(out)
        self._drain_and_close()
        return True

    def _reply(self, out: list[bytes]) -> None:
        if not out:
            return
        # replies wait for the server's flush (or fsync) of this loop iteration: _group_commit
        if self._held is None:
            self._held = out
            self.server.hold(self)
        else:
            self._held.extend(out)

    def take_held(self) -> list[bytes]:
        """The replies held for the server's flush of this iteration; none are held after."""
        replies, self._held = self._held, None
        return replies or []

    def _drain_and_close(self) -> None:
        # Keep reading (and dropping) what the client still sends, so that it can finish
        # writing its request and read our error line instead of a connection reset.
        transport = self.transport
        if transport is None:
            return
        self._draining = True
        self._unpark()
        if self._held is None:  # held replies still wait for the group fsync: no EOF yet
            with contextlib.suppress(OSError, RuntimeError):
                if transport.can_write_eof():
                    transport.write_eof()
        asyncio.get_running_loop().call_later(DRAIN_SECONDS, transport.close)

    def _take_turns(self) -> None:
        """Stop reading and running this client's commands until the loop's next turn."""
        if self.transport is None:
            return
        self.transport.pause_reading()
        self._yielded = True
        asyncio.get_running_loop().call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._yielded = False
        if self.transport is None or self._draining or self.parked is not None:
            return
        if not self._paused_by_writer:
            self.transport.resume_reading()
        self.process()

    def _push(self, frame: bytes) -> None:
        """Send a MIRROR frame with this iteration's replies (after the writes are flushed)."""
        transport = self.transport
        if transport is None or transport.is_closing() or self._draining:
            return
        if transport.get_write_buffer_size() > MIRROR_BACKLOG:
            log.warning("event=mirror_dropped peer=%s reason=backlog", self.peer)
            transport.abort()  # connection_lost forgets the session
            return
        self._reply([frame])

    # -- WAIT -------------------------------------------------------------------------------
    def _park(self, waiter: Waiter, reply: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.parked = waiter
        if waiter.command:  # a WAIT: another client's command may fire it first
            waiter.on_fire = self._on_fire
            self.commands.park(waiter)
        else:  # a slowed password try: its reply goes out when the time is up
            waiter.reply = reply
        self._park_timer = loop.call_later(waiter.timeout_ms / 1000, self._on_timeout)
        if self.transport is not None:
            self.transport.pause_reading()

    def _unpark(self) -> None:
        if self.parked is not None:
            self.commands.unpark(self.parked)
            self.parked = None
        if self._park_timer is not None:
            self._park_timer.cancel()
            self._park_timer = None

    def _on_fire(self, reply: bytes) -> None:
        # called while another client's command runs: answer after its batch is flushed
        asyncio.get_running_loop().call_soon(self._wake, reply)

    def _on_timeout(self) -> None:
        self._park_timer = None
        if self.parked is not None:
            self._wake(self.parked.reply)

    def _wake(self, reply: bytes) -> None:
        if self.parked is None:
            return
        self._unpark()
        self._reply([reply])
        if self.transport is not None and not self._draining:
            if not self._paused_by_writer and not self._yielded:
                self.transport.resume_reading()
            self.process()


class ZdbServer:
    """A zero-db server: an engine, the command set, and listening sockets."""

    def __init__(self, commands: Commands, config: ServerConfig) -> None:
        self.commands = commands
        self.engine: Engine = commands.engine
        self.config = config
        self.connections: set[Connection] = set()
        self._servers: list[asyncio.Server] = []
        self._held: list[Connection] = []
        self._sync_timer: asyncio.TimerHandle | None = None
        self._tick_timer: asyncio.TimerHandle | None = None
        self.addresses: list[str] = []
        # Replies wait for one flush (or fsync) of every connection's writes of this loop
        # iteration (Connection._reply): one chain commit for all of them, and the replies
        # leave together, so the clients are woken while they are still running (a wakeup of
        # an idle peer costs more than the write itself on a virtual machine).

    def hold(self, conn: Connection) -> None:
        if not self._held:
            asyncio.get_running_loop().call_soon(self._group_commit)
        self._held.append(conn)

    def commit_now(self) -> None:
        """Sync and release held replies at once (a big pipeline in --sync mode)."""
        if self._held:
            self._group_commit()

    def _group_commit(self) -> None:
        held, self._held = self._held, []
        failed: bytes | None = None
        try:
            if self.config.sync:
                self.engine.sync()
            else:
                self.engine.flush()
        except StorageError as exc:
            log.error("event=sync_failed error=%r", str(exc))
            failed = error(f"{INTERNAL_ERROR}: {exc}")
        stats = self.commands.stats
        for conn in held:  # each connection's replies of the iteration, in one write
            replies = conn.take_held()
            if failed is not None:  # none of them is known to be written
                replies = [failed] * len(replies)
            transport = conn.transport
            if replies and transport is not None and not transport.is_closing():
                data = b"".join(replies)
                stats.network_tx_bytes += len(data)
                transport.write(data)

    def _periodic_sync(self) -> None:
        try:
            self.engine.sync()
        except StorageError as exc:
            log.error("event=sync_failed error=%r", str(exc))
        loop = asyncio.get_running_loop()
        self._sync_timer = loop.call_later(self.config.synctime, self._periodic_sync)

    def _tick(self) -> None:
        # reservations expire and are released on time, whether or not anyone writes
        try:
            self.commands.tick()
            self.engine.flush()
        except Exception:
            log.exception("event=tick_failed")
        self._tick_timer = asyncio.get_running_loop().call_later(1.0, self._tick)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        if cfg.port is not None:
            try:
                server = await loop.create_server(
                    lambda: Connection(self), cfg.listen, cfg.port, reuse_address=True, backlog=1024
                )
            except OSError as exc:
                raise ZdbError(
                    f"cannot listen on {cfg.listen}:{cfg.port}: {exc.strerror or exc}; "
                    "choose another --port or stop what uses it"
                ) from exc
            for sock in server.sockets:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                host, port = sock.getsockname()[:2]
                self.addresses.append(f"{host}:{port}")
            self._servers.append(server)
        if cfg.socket:
            path = cfg.socket
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(os.stat(path).st_mode):
                    os.unlink(path)
            try:
                server = await loop.create_unix_server(lambda: Connection(self), path)
            except OSError as exc:
                raise ZdbError(f"cannot listen on unix socket {path}: {exc.strerror}") from exc
            self.addresses.append(f"unix:{path}")
            self._servers.append(server)
        if not self._servers:
            raise ZdbError("nothing to listen on: give --port or --socket")
        if cfg.synctime > 0 and not cfg.sync:
            self._sync_timer = loop.call_later(cfg.synctime, self._periodic_sync)
        self._tick_timer = loop.call_later(1.0, self._tick)

    @property
    def port(self) -> int | None:
        for text in self.addresses:
            address = parse_address(text, unix=True)
            if not address.is_unix:
                return address.port
        return None

    async def close(self) -> None:
        if self._sync_timer is not None:
            self._sync_timer.cancel()
        if self._tick_timer is not None:
            self._tick_timer.cancel()
        for server in self._servers:
            server.close()
        if self._held:  # replies of the last iteration (STOP's among them) go out first
            self._group_commit()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        for server in self._servers:
            await server.wait_closed()
        if self._held:
            self._group_commit()
        if self.config.socket:
            with contextlib.suppress(OSError):
                os.unlink(self.config.socket)
        self.engine.close()


async def serve(
    commands: Commands, config: ServerConfig, ready: asyncio.Event | None = None
) -> None:
    """Run a server until SIGINT or SIGTERM, then close it cleanly."""
    server = ZdbServer(commands, config)
    await server.start()
    log.info(
        "event=listening addresses=%s engine=%s",
        ",".join(server.addresses),
        type(commands.engine).__name__,
    )
    stop = stop_on_signals()
    commands.on_stop = stop.set  # STOP stops the server as SIGTERM does
    if ready is not None:
        ready.set()
    try:
        with ready_file(config.ready_file, "zdb", server.addresses):
            await stop.wait()
    finally:
        log.info("event=stopping connections=%d", len(server.connections))
        await server.close()


def run(commands: Commands, config: ServerConfig, loop: str = "asyncio") -> None:
    """Serve until SIGINT or SIGTERM on the chosen event loop ("asyncio" or "uvloop")."""
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(commands, config))
        return
    asyncio.run(serve(commands, config))


__all__ = ["Connection", "Mode", "ServerConfig", "ZdbServer", "run", "serve"]
