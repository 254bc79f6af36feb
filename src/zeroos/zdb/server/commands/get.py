"""The reads of one key: GET, MGET, EXISTS, CHECK, LENGTH, KEYTIME."""

from __future__ import annotations

from ...errors import FROZEN, ReplyError, StorageError
from ...protocol import BULK_HEADS, CRLF, MAX_KEY, NIL, ONE, SHORT_BULK, ZERO, array, bulk, integer
from .args import key_arg, readable
from .session import ACCESS_FROZEN, Session


def command_get(session: Session, args: list[bytes]) -> bytes:
    """GET key (the hot path: the checks are inline)."""
    try:
        _, key = args
    except ValueError:
        key = key_arg(args)  # raises the right error line
    if not key or len(key) > MAX_KEY:
        key_arg(args)  # raises the right error line
    if session.access.state == ACCESS_FROZEN:
        raise ReplyError(FROZEN)
    value = session.store.get(key)
    if value is None:
        return NIL
    size = len(value)
    if size < SHORT_BULK:
        return BULK_HEADS[size] + value + CRLF
    return b"$%d\r\n%b\r\n" % (size, value)


def command_mget(session: Session, args: list[bytes]) -> bytes:
    """MGET key...: each value or nil."""
    if len(args) < 2:
        raise ReplyError("Invalid arguments")
    for key in args[1:]:
        if len(key) > MAX_KEY:
            raise ReplyError("Invalid key")
    store = readable(session)
    out = []
    for key in args[1:]:
        value = store.get(key) if key else None
        out.append(NIL if value is None else bulk(value))
    return array(out)


def command_exists(session: Session, args: list[bytes]) -> bytes:
    """EXISTS key: 1 or 0."""
    key = key_arg(args)
    return ONE if readable(session).contains(key) else ZERO


def command_check(session: Session, args: list[bytes]) -> bytes:
    """CHECK key: 1 when the stored value matches its checksum, 0 when not, -1 on I/O error."""
    key = key_arg(args)
    store = readable(session)
    try:
        ok = store.check(key)
    except StorageError as exc:
        store.faults.io_error(str(exc))
        return b":-1\r\n"
    if ok is None:
        return NIL
    if not ok:
        store.faults.data_faults += 1
        return ZERO
    return ONE


def command_length(session: Session, args: list[bytes]) -> bytes:
    """LENGTH key: the value's size."""
    key = key_arg(args)
    size = readable(session).stored_size(key)
    return NIL if size is None else integer(size)


def command_keytime(session: Session, args: list[bytes]) -> bytes:
    """KEYTIME key: when the value was written (seconds)."""
    key = key_arg(args)
    info = readable(session).info(key)
    return NIL if info is None else integer(info.timestamp_us // 1_000_000)
