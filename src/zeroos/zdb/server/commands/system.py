"""The server's own commands: PING, TIME, INFO, STOP, WAIT and MIRROR."""

from __future__ import annotations

import time

from ...._version import __version__
from ...errors import UNAUTHORIZED, ReplyError
from ...native import NATIVE
from ...protocol import array, bulk
from .args import SEQ_KEY_SIZE, mb
from .session import Session, Waiter

WAIT_DEFAULT_MS = 5000
WAIT_MIN_MS = 100
WAIT_MAX_MS = 30 * 60 * 1000


def command_ping(session: Session, args: list[bytes]) -> bytes:
    """PING."""
    return b"+PONG\r\n"


def command_time(session: Session, args: list[bytes]) -> bytes:
    """TIME: seconds and microseconds."""
    now = time.time_ns() // 1000
    return array([bulk(b"%d" % (now // 1_000_000)), bulk(b"%d" % (now % 1_000_000))])


def command_stop(session: Session, args: list[bytes]) -> bytes:
    """STOP (admin): answer, then stop the server cleanly (0-db does so in debug builds)."""
    on_stop = session.commands.on_stop
    if on_stop is None:
        raise ReplyError(UNAUTHORIZED)  # 0-db's line where STOP can't stop anything
    on_stop()
    return b"+Stopping\r\n"


def command_info(session: Session, args: list[bytes]) -> bytes:
    """INFO: 0-db's server report."""
    commands = session.commands
    stats = commands.stats
    engine = commands.engine
    now = time.time()
    lines = [
        "# server",
        "server_name: 0-db (zdb)",
        f"server_revision: zeroos-{__version__}",
        f"engine_revision: {type(engine).__name__}",
        f"instance_id: {commands.instance_id}",
        f"chain: {'on' if engine.identity is not None else 'off'}",
        f"native: {'on' if NATIVE else 'off'}",
        f"public_key: {engine.identity.public_key.hex() if engine.identity else ''}",
        f"boot_time: {int(stats.boot_time)}",
        f"uptime: {int(now - stats.boot_time)}",
        "",
        "# clients",
        f"clients_lifetime: {stats.clients_lifetime}",
        "",
        "# internals",
        f"sequential_key_size: {SEQ_KEY_SIZE}",
        f"runtime_mode: {commands.fixed_mode or 'mixed'}",
        "",
        "# stats",
        f"commands_executed: {stats.commands_executed}",
        f"commands_failed: {stats.commands_failed}",
        f"commands_unauthorized: {stats.commands_unauthorized}",
        f"network_rx_bytes: {stats.network_rx_bytes}",
        f"network_rx_mb: {mb(stats.network_rx_bytes)}",
        f"network_tx_bytes: {stats.network_tx_bytes}",
        f"network_tx_mb: {mb(stats.network_tx_bytes)}",
        f"data_cuts: {stats.data_cuts}",
        f"data_cut_bytes: {stats.data_cut_bytes}",
    ]
    return bulk(("\n".join(lines) + "\n").encode())


def command_wait(session: Session, args: list[bytes]) -> bytes:
    """WAIT command|* [timeout-ms]: park until another client runs the command here."""
    if len(args) not in (2, 3):
        raise ReplyError("Invalid arguments")
    command = args[1].upper()
    if command == b"SCANX":
        command = b"SCAN"
    if command != b"*" and command not in session.commands.table:
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


def command_mirror(session: Session, args: list[bytes]) -> bytes:
    """MIRROR (admin): this connection then receives every write of the others."""
    mirrors = session.commands.mirrors
    if session not in mirrors:
        mirrors.append(session)
    return b"+Starting mirroring\r\n"
