"""RESP on the server side: reply encoding and a request reader that enforces 0-db's limits."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

import hiredis

from .errors import NOT_AN_ARRAY, PAYLOAD_TOO_BIG
from .native import c_module

MAX_BULK: Final = 8 * 1024 * 1024
MAX_ARGS: Final = 1024
MAX_KEY: Final = 255
# What one connection may hold of a single unfinished command: the biggest legal SET fits.
MAX_BUFFER: Final = MAX_BULK + 64 * 1024
# A command announcing more arguments than MAX_ARGS is refused at its header, before any of
# them is read; up to SKIP_MAX of them are then passed over (the stream stays in step),
# beyond that the connection closes.
SKIP_MAX: Final = 1024 * 1024

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


# Codes frame() returns (the C module's resp_frame returns the same)
FRAME_OK: Final = 0  # data[pos:end] is settled; data[end:] is a header line begun, to carry
FRAME_TOO_MANY: Final = 1  # a command's header at end announces more than max_args elements
FRAME_ABSURD: Final = 2  # ... more than skip_max: not worth reading through
FRAME_NOT_ARRAY: Final = 3  # a command does not start with "*" (inline, a reply, junk)
FRAME_NOT_BULK: Final = 4  # an argument is not a bulk string
FRAME_BAD_COUNT: Final = 5  # an array length that hiredis would refuse too
FRAME_BAD_LENGTH: Final = 6  # a bulk length that hiredis would refuse too
FRAME_SKIPPED: Final = 7  # the refused command's arguments were passed over up to end
# A header line is "*" or "$", a canonical decimal (as hiredis's string2ll wants it, at most
# 18 digits: longer counts and lengths are absurd), CRLF.
FRAME_LINE_MAX: Final = 24  # a header line longer than this is refused (_native.c too)
_CANONICAL = re.compile(rb"0|-?[1-9][0-9]{0,17}")


def py_frame(
    left: int, need: int, skip: bool, data: bytes, pos: int, max_args: int, skip_max: int
) -> tuple[int, int, bool, int, int, int]:
    """Follow a request stream's framing from pos: (left, need, skip, end, resume, code).

    ``left`` is how many arguments the current command still has to come (0: between
    commands), ``need`` how many payload bytes (with their CRLF) of the current argument,
    ``skip`` whether the current command is a refused one being passed over. The walk stops
    at the end of data, before an unfinished header line, or at the first event (``code``);
    ``resume`` is where to go on from after the event (after a refused header).
    """
    end = len(data)
    while True:
        if need:
            step = min(need, end - pos)
            need -= step
            pos += step
            if need:
                return left, need, skip, pos, pos, FRAME_OK
            if not left and skip:
                return 0, 0, False, pos, pos, FRAME_SKIPPED
        if pos >= end:
            return left, need, skip, pos, pos, FRAME_OK
        kind = data[pos]
        if kind != (0x24 if left else 0x2A):  # "$" for an argument, "*" for a command
            return left, need, skip, pos, pos, FRAME_NOT_BULK if left else FRAME_NOT_ARRAY
        nl = data.find(b"\r\n", pos, pos + FRAME_LINE_MAX)
        if nl < 0:
            if end - pos < FRAME_LINE_MAX:
                return left, need, skip, pos, pos, FRAME_OK  # carried to the next chunk
            return left, need, skip, pos, pos, FRAME_BAD_LENGTH if left else FRAME_BAD_COUNT
        text = data[pos + 1 : nl]
        if not left:  # a command's header
            if _CANONICAL.fullmatch(text) is None or text[:1] == b"-":
                return left, need, skip, pos, pos, FRAME_BAD_COUNT
            count = int(text)
            if count > max_args:
                code = FRAME_TOO_MANY if count <= skip_max else FRAME_ABSURD
                return count, 0, True, pos, nl + 2, code
            left = count
            pos = nl + 2
            continue
        if _CANONICAL.fullmatch(text) is None:
            return left, need, skip, pos, pos, FRAME_BAD_LENGTH
        length = int(text)
        if length < -1:
            return left, need, skip, pos, pos, FRAME_BAD_LENGTH
        left -= 1
        pos = nl + 2
        need = length + 2 if length >= 0 else 0
        if not need and not left and skip:
            return 0, 0, False, pos, pos, FRAME_SKIPPED


Frame = Callable[[int, int, bool, bytes, int, int, int], tuple[int, int, bool, int, int, int]]
frame: Frame = c_module.resp_frame if c_module is not None else py_frame
_FRAME_LINES: Final = {
    FRAME_TOO_MANY: "Too many arguments",
    FRAME_ABSURD: "Too many arguments",
    FRAME_NOT_ARRAY: NOT_AN_ARRAY,
    FRAME_NOT_BULK: "Malformed query string",
    FRAME_BAD_COUNT: "Bad multi-bulk length",
    FRAME_BAD_LENGTH: "Bad bulk string length",
}


class ProtocolViolation(Exception):
    """The client broke RESP or a limit; ``close`` says whether the stream is lost."""

    def __init__(self, line: str, *, close: bool) -> None:
        super().__init__(line)
        self.line = line
        self.close = close


class RequestReader:
    """Cuts a byte stream into commands (lists of bytes), with bounded buffering.

    hiredis does the parsing; limits are checked here. :func:`frame` follows the stream's
    framing before hiredis sees it, so that a command announcing more than MAX_ARGS
    arguments is refused at its header (hiredis would make room for all of them and keep
    every one that comes) and anything but an array of bulk strings closes the stream. Per-
    argument size checks only run when the buffer has been large enough to hold an oversized
    argument, so small commands pay nothing for them. Error lines are 0-db's.

    :meth:`feed` and :meth:`get` are the whole rule. The server's loop inlines :meth:`get`'s
    common case (see ``Connection.data_received``) through hiredis's own ``gets`` and
    ``buffered`` (its len), and hands everything else to :meth:`broken` and :meth:`accept`,
    which are :meth:`get`'s two halves.
    """

    __slots__ = (
        "_carry",
        "_left",
        "_need",
        "_skip",
        "_stash",
        "buffered",
        "gets",
        "pending",
        "push",
        "violation",
    )

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
        # what the stream broke, to answer once hiredis gave out the commands before it
        self.violation: ProtocolViolation | None = None
        self._stash = b""  # what came after a refused header, until that answer is out
        self._carry = b""  # a header line begun at the end of the last chunk
        self._left = 0  # frame's state: arguments to come, payload bytes to come, skipping
        self._need = 0
        self._skip = False

    def feed(self, data: bytes) -> None:
        if self.violation is not None:  # its answer goes first: keep the order
            self._stash += data
            return
        if self._carry:
            data, self._carry = self._carry + data, b""
        left, need, skip = self._left, self._need, self._skip
        pos = 0
        while True:
            skipping = skip
            left, need, skip, end, resume, code = frame(
                left, need, skip, data, pos, MAX_ARGS, SKIP_MAX
            )
            if end > pos and not skipping:
                self.push(data[pos:end] if pos or end < len(data) else data)
                self.pending += end - pos
            if code == FRAME_SKIPPED:
                pos = end
                continue
            self._left, self._need, self._skip = left, need, skip
            if code == FRAME_OK:
                if end < len(data):
                    self._carry = data[end:]
                return
            refused = code == FRAME_TOO_MANY
            self.violation = ProtocolViolation(_FRAME_LINES[code], close=not refused)
            if refused:
                self._stash = data[resume:]
            return

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
                text = NOT_AN_ARRAY
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
            exc = self.violation
            if exc is not None:
                self.violation = None
                stash, self._stash = self._stash, b""
                if not exc.close:  # the refused command's arguments are passed over
                    self.feed(stash)
                raise exc
            if self.pending > MAX_BUFFER:
                raise ProtocolViolation(PAYLOAD_TOO_BIG, close=True)
            return None
        # inline commands and stray replies: we cannot tell where the next command starts
        raise ProtocolViolation(NOT_AN_ARRAY, close=True)

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
                    raise ProtocolViolation(PAYLOAD_TOO_BIG, close=False)
        return cmd  # type: ignore[return-value]
