"""A server's life: bind, say it is ready in a way a machine reads, stop on a signal.

Readiness is a file, never a log line: ``--ready-file PATH`` makes a server write, once it
listens, the JSON ``{"part": "zdb", "pid": 1234, "addresses": ["127.0.0.1:9900"], "version":
"0.1.0"}`` to PATH, atomically (a reader sees the whole file or none), and remove it when it
stops. :mod:`zeroos.common.harness` starts a child and waits for that file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from .._version import __version__
from .address import format_hostport, parse_address
from .errors import ZosError

STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


class ReadyFileError(ZosError):
    """A ready file that cannot be written, or read back as what a server wrote."""


@dataclass(frozen=True, slots=True)
class Ready:
    """What a listening server says about itself in its ready file."""

    part: str
    pid: int
    addresses: list[str]
    version: str = __version__

    @property
    def port(self) -> int:
        """The first TCP port it listens on (0 if it listens on unix sockets only)."""
        for text in self.addresses:
            address = parse_address(text, unix=True)
            if not address.is_unix:
                return address.port
        return 0


def write_ready_file(path: str | Path, part: str, addresses: list[str]) -> Ready:
    """Write ``path`` atomically (a temporary file renamed over it): this process is ready."""
    ready = Ready(part=part, pid=os.getpid(), addresses=list(addresses))
    target = Path(path)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(ready), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise ReadyFileError(
            f"cannot write the ready file {target}: {exc.strerror or exc}"
        ) from exc
    return ready


def read_ready_file(path: str | Path) -> Ready | None:
    """The ready file at ``path``, or None while there is none."""
    try:
        data = json.loads(Path(path).read_text())
        return Ready(
            part=str(data["part"]),
            pid=int(data["pid"]),
            addresses=[str(a) for a in data["addresses"]],
            version=str(data["version"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReadyFileError(f"{path} is not a ready file: {exc}") from exc


class ReadyFile:
    """The ready file of one server: written once it listens, removed when it stops.

    A None ``path`` (no ``--ready-file`` given) makes both no-ops.
    """

    def __init__(self, path: str | Path | None, part: str) -> None:
        self.path = Path(path) if path is not None else None
        self.part = part

    def write(self, addresses: list[str]) -> None:
        """Say that this process listens on ``addresses``."""
        if self.path is not None:
            write_ready_file(self.path, self.part, addresses)

    def remove(self) -> None:
        """Say that it stopped (nothing if it never wrote)."""
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


@contextlib.contextmanager
def ready_file(path: str | Path | None, part: str, addresses: list[str]) -> Iterator[None]:
    """Hold a ready file while the block runs (none when ``path`` is None); remove it after."""
    ready = ReadyFile(path, part)
    ready.write(addresses)
    try:
        yield
    finally:
        ready.remove()


def stop_on_signals(loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Event:
    """An event set by SIGINT or SIGTERM: a server awaits it, then stops gracefully."""
    stop = asyncio.Event()
    loop = loop or asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    return stop


def call_on_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGINT or SIGTERM (a server whose loop is not asyncio's, or not yet)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: stop())


def bind_tcp(host: str, port: int, *, backlog: int = 1024) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv4 or IPv6), inheritable by a child."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: accepted sockets inherit it, and asyncio turns Nagle off
    # (TCP_NODELAY) only on sockets that say they are TCP; without it each small answer
    # waited for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def listen_tcp(host: str, port: int, error: type[ZosError] = ZosError) -> socket.socket:
    """:func:`bind_tcp`, or the calling part's ``error`` naming the address and the reason."""
    try:
        return bind_tcp(host, port)
    except OSError as exc:
        where = format_hostport(host, port)
        raise error(
            f"cannot listen on {where}: {exc.strerror or exc}",
            hint="another server may hold that port: give another --port (0: any free one)",
        ) from exc


__all__ = [
    "STOP_SIGNALS",
    "Ready",
    "ReadyFile",
    "ReadyFileError",
    "bind_tcp",
    "call_on_signals",
    "listen_tcp",
    "read_ready_file",
    "ready_file",
    "stop_on_signals",
    "write_ready_file",
]
