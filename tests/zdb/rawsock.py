"""Raw RESP over a plain socket: send any bytes, read replies as hiredis parses them.

The tests of bad input and the fuzzer need to send what no client library would, and to
tell an error line from a closed connection.
"""

from __future__ import annotations

import os
import socket
import time

import hiredis

Reply = object  # bytes, int, list, None, or hiredis.ReplyError for an error line


class Closed(Exception):
    """The server closed the connection (EOF or reset) before a whole reply came."""


def encode(*args: bytes | str | int) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        out.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(out)


class RawConn:
    """One TCP connection to a server, with a hiredis reader for its replies."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.reader = hiredis.Reader()

    def __enter__(self) -> RawConn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self, timeout: float | None = None) -> Reply:
        """The next whole reply; Closed when the connection ends first."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        while True:
            item = self.reader.gets()
            if item is not False:
                return item
            try:
                data = self.sock.recv(1 << 16)
            except ConnectionResetError as exc:
                raise Closed("connection reset") from exc
            if not data:
                raise Closed("connection closed")
            self.reader.feed(data)

    def call(self, *args: bytes | str | int) -> Reply:
        self.send(encode(*args))
        return self.reply()

    def closed_within(self, seconds: float) -> bool:
        """True when the server closes the connection within the time (data is dropped)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 16)
            except ConnectionResetError:
                return True
            except TimeoutError:
                return False
            if not data:
                return True


def is_error(reply: Reply, prefix: str = "") -> bool:
    """Whether a reply is an error line (starting with prefix)."""
    return isinstance(reply, hiredis.ReplyError) and str(reply).startswith(prefix)


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
