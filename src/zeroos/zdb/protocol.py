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

    hiredis does the parsing; limits are checked here. Per-argument size checks only run
    when the buffer has been large enough to hold an oversized argument, so small commands
    pay nothing for them. Error lines are 0-db's.
    """

    __slots__ = ("_gets", "_len", "_pending", "_reader")

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._gets = self._reader.gets
        self._len = self._reader.len
        # Bytes fed since the last whole command: the unfinished command's size, over by
        # less than 1 KiB. Not the reader's buffer length: hiredis consumes the elements of
        # an unfinished array as they come, so an endless array of small strings keeps
        # its buffer small while the parsed elements pile up in memory.
        self._pending = 0

    def feed(self, data: bytes) -> None:
        self._reader.feed(data)
        self._pending += len(data)

    def get(self) -> list[bytes] | None:
        """The next whole command, or None when more bytes are needed."""
        try:
            cmd = self._gets()
        except hiredis.ProtocolError as exc:
            text = str(exc)
            if "reply type byte" in text:
                text = "Malformed request, array expected"
            raise ProtocolViolation(text, close=True) from None
        except MemoryError:
            # an array header announcing billions of elements: hiredis allocates them first
            raise ProtocolViolation("Too many arguments", close=True) from None
        except Exception as exc:  # e.g. TypeError for a RESP3 map with an array as a key
            raise ProtocolViolation(f"Malformed request ({exc})", close=True) from None
        if type(cmd) is list:
            big = self._pending > MAX_BULK  # the command may hold an oversized argument
            self._pending = self._len()  # what is left belongs to the next commands
            if cmd and len(cmd) <= MAX_ARGS and not big:
                for arg in cmd:
                    if type(arg) is not bytes:
                        return self._reject(cmd, big)
                return cmd
            return self._reject(cmd, big)
        if cmd is False:
            if self._pending > MAX_BUFFER:
                raise ProtocolViolation("Payload too big", close=True)
            return None
        # inline commands and stray replies: we cannot tell where the next command starts
        raise ProtocolViolation("Malformed request, array expected", close=True)

    def _reject(self, cmd: list[object], big: bool) -> list[bytes]:
        """The slow checks, for commands the fast path did not accept as they are."""
        if not cmd:
            raise ProtocolViolation("Missing arguments", close=False)
        for arg in cmd:
            if type(arg) is not bytes:
                raise ProtocolViolation("Malformed query string", close=False)
        if len(cmd) > MAX_ARGS:
            raise ProtocolViolation("Too many arguments", close=False)
        if big:
            for arg in cmd:
                if len(arg) > MAX_BULK:  # type: ignore[arg-type]
                    raise ProtocolViolation("Payload too big", close=False)
        return cmd  # type: ignore[return-value]
