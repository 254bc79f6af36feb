"""The writes of one key: SET and DEL."""

from __future__ import annotations

import time

from ...errors import (
    KEY_NOT_FOUND,
    NO_SPACE,
    UPDATE_ONLY,
    WORM,
    WORM_DELETE,
    CorruptData,
    ReplyError,
)
from ...protocol import BULK_HEADS, CRLF, MAX_KEY, NIL, OK
from .args import SEQ_KEY_SIZE, admin, key_arg, timestamp_us
from .session import Session

_time_ns = time.time_ns  # SET's clock, without a module attribute lookup per call


def command_set(session: Session, args: list[bytes]) -> bytes:
    """SET key value [timestamp] (the hot path: the common checks are inline)."""
    argc = len(args)
    if argc == 3:
        _, key, value = args
        stamp = _time_ns() // 1000
    elif argc == 4:
        admin(session)
        stamp = timestamp_us(args[3])
        key, value = args[1], args[2]
    else:
        raise ReplyError("Unexpected arguments")
    if len(key) > MAX_KEY:
        raise ReplyError("Key too large")
    store = session.store
    settings = store.settings
    # writable's common case inline: an open namespace (ACCESS_OPEN is 0), no reservation
    if not session.writable or session.access.state or settings.state:
        store = session.commands.writable(session)
        settings = store.settings
    if settings.mode == "seq":
        if not key:
            key = store.next_id.to_bytes(SEQ_KEY_SIZE, "little")
            old_size = None
        else:
            old_size = store.stored_size(key)
            if old_size is None:
                raise ReplyError(UPDATE_ONLY)
    else:
        if not key:
            raise ReplyError("Invalid argument, key needed")
        old_size = store.stored_size(key)
    if old_size is not None:
        if settings.worm:
            raise ReplyError(WORM)
        if old_size == len(value):
            try:
                same = store.get(key) == value
            except CorruptData:
                same = False  # a damaged value gets replaced: SET is how a user repairs it
            if same:
                return NIL
    if settings.maxsize and store.data_size + len(value) > settings.maxsize + (old_size or 0):
        raise ReplyError(NO_SPACE)
    store.put(key, value, stamp)
    return BULK_HEADS[len(key)] + key + CRLF  # a key is at most MAX_KEY bytes


def command_del(session: Session, args: list[bytes]) -> bytes:
    """DEL key [timestamp]."""
    if len(args) == 3:
        admin(session)
        stamp = timestamp_us(args[2])
        key = key_arg(args[:2])
    else:
        key = key_arg(args)
        stamp = time.time_ns() // 1000
    store = session.commands.writable(session)
    if not store.contains(key):
        raise ReplyError(KEY_NOT_FOUND)
    if store.settings.worm:
        raise ReplyError(WORM_DELETE)
    store.delete(key, stamp)
    return OK
