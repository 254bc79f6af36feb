"""RESP on the server side: reply encoding and a request reader that enforces 0-db's limits."""

from __future__ import annotations

from typing import Final

import hiredis

MAX_BULK: Final = 8 * 1024 * 1024
MAX_ARGS: Final = 1024
MAX_KEY: Final = 255
# What one connection may hold of a single unfinished command: the biggest legal SET fits.
MAX_BUFFER: Final = MAX_BULK + 64 * 1024

OK: Final = b"+OK\r\n"
NIL: Final = b"$-1\r\n"
EMPTY_ARRAY: Final = b"*0\r\n"
ZERO: Final = b":0\r\n"
ONE: Final = b":1\r\n"


def bulk(data: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(data), data)


def integer(value: int) -> bytes:
    return b":%d\r\n" % value


def simple(text: str) -> bytes:
    return b"+" + text.encode() + b"\r\n"


def error(line: str) -> bytes:
    # an error line cannot hold a line break; keep one line whatever the message says
    return b"-" + line.replace("\r", " ").replace("\n", " ").encode() + b"\r\n"


def array(items: list[bytes]) -> bytes:
    """An array of already encoded replies."""
    return b"*%d\r\n" % len(items) + b"".join(items)


class ProtocolViolation(Exception):
    """The client broke RESP or a limit; ``close`` says whether the stream is lost."""

    def __init__(self, line: str, *, close: bool) -> None:
        super().__init__(line)
        self.line = line
        self.close = close


class RequestReader:
    """Cuts a byte stream into commands (lists of bytes), with bounded buffering.

    hiredis does the parsing; limits are checked here. Per-argument checks only run when
    the buffer has been large enough to hold an oversized argument, so small commands pay
    nothing for them.
    """

    __slots__ = ("_big", "_reader")

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._big = False

    def feed(self, data: bytes) -> None:
        self._reader.feed(data)
        if self._reader.len() > MAX_BULK:
            self._big = True

    def get(self) -> list[bytes] | None:
        """The next whole command, or None when more bytes are needed."""
        reader = self._reader
        try:
            cmd = reader.gets()
        except hiredis.ProtocolError as exc:
            raise ProtocolViolation(f"Protocol error: {exc}", close=True) from None
        if cmd is False:
            if reader.len() > MAX_BUFFER:
                raise ProtocolViolation("Payload too big", close=True)
            self._big = reader.len() > MAX_BULK
            return None
        if type(cmd) is not list:
            # inline commands and stray replies: we cannot tell where the next command starts
            raise ProtocolViolation(
                "Protocol error: expected an array of bulk strings (inline commands are not supported)",
                close=True,
            )
        if not cmd:
            raise ProtocolViolation("Protocol error: empty command", close=False)
        for arg in cmd:
            if type(arg) is not bytes:
                raise ProtocolViolation(
                    "Protocol error: command arguments must be bulk strings", close=False
                )
        if len(cmd) > MAX_ARGS:
            raise ProtocolViolation("Too many arguments", close=False)
        if self._big:
            for arg in cmd:
                if len(arg) > MAX_BULK:
                    raise ProtocolViolation("Payload too big", close=False)
        return cmd
