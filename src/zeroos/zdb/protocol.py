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
CRLF: Final = b"\r\n"
# The heads of short bulk strings, made once: SET's reply (a key) and most GET replies.
SHORT_BULK: Final = 1024
BULK_HEADS: Final = tuple(b"$%d\r\n" % size for size in range(SHORT_BULK))


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

    :meth:`feed` and :meth:`get` are the whole rule. The server's loop inlines their common
    case (see ``Connection.data_received``) through hiredis's own ``push`` (its feed: the
    caller adds the bytes to ``pending``), ``gets`` and ``buffered`` (its len), and hands
    everything else to :meth:`broken` and :meth:`accept`, which are :meth:`get`'s two halves.
    """

    __slots__ = ("buffered", "gets", "pending", "push")

    def __init__(self) -> None:
        reader = hiredis.Reader()
        self.push = reader.feed
        self.gets = reader.gets
        self.buffered = reader.len
        # Bytes fed since the last whole command: the unfinished command's size, over by
        # less than 1 KiB. Not the reader's buffer length: hiredis consumes the elements of
        # an unfinished array as they come, so an endless array of small strings keeps
        # its buffer small while the parsed elements pile up in memory.
        self.pending = 0

    def feed(self, data: bytes) -> None:
        self.push(data)
        self.pending += len(data)

    def get(self) -> list[bytes] | None:
        """The next whole command, or None when more bytes are needed."""
        try:
            raw = self.gets()
        except Exception as exc:
            raise self.broken(exc) from None
        return self.accept(raw)

    @staticmethod
    def broken(exc: Exception) -> ProtocolViolation:
        """What to answer when hiredis raised ``exc`` on the stream: it is lost."""
        if isinstance(exc, hiredis.ProtocolError):
            text = str(exc)
            if "reply type byte" in text:
                text = "Malformed request, array expected"
            return ProtocolViolation(text, close=True)
        if isinstance(exc, MemoryError):
            # an array header announcing billions of elements: hiredis allocates them first
            return ProtocolViolation("Too many arguments", close=True)
        # e.g. TypeError for a RESP3 map with an array as a key
        return ProtocolViolation(f"Malformed request ({exc})", close=True)

    def accept(self, raw: object) -> list[bytes] | None:
        """The command in what ``gets`` returned, None when more bytes are needed."""
        if type(raw) is list:
            big = self.pending > MAX_BULK  # the command may hold an oversized argument
            self.pending = self.buffered()  # what is left belongs to the next commands
            if raw and len(raw) <= MAX_ARGS and not big:
                for arg in raw:
                    if type(arg) is not bytes:
                        return self._reject(raw, big)
                return raw
            return self._reject(raw, big)
        if raw is False:
            if self.pending > MAX_BUFFER:
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
