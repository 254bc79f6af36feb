"""The walks: SCAN, RSCAN, KSCAN, KEYCUR and HISTORY."""

from __future__ import annotations

from ...errors import KEY_NOT_FOUND, NO_KEYS_MATCH, NO_MORE_DATA, ReplyError
from ...protocol import MAX_KEY, NIL, array, bulk, integer
from .args import need, readable
from .session import YIELD, Session

SCAN_BATCH = 100
# Versions one SCAN/RSCAN may look at (a few ms) before it answers: past a long run of
# overwritten keys it answers fewer entries, even none, with the cursor where it stopped.
SCAN_WALK = 4096


def _scan(session: Session, args: list[bytes], reverse: bool) -> bytes:
    store = readable(session)
    cursor = args[1] if len(args) > 1 else None
    try:
        entries, last = store.scan(cursor, SCAN_BATCH, reverse, SCAN_WALK)
    except ValueError:
        raise ReplyError("Invalid key format") from None
    session.waiter = YIELD
    if last is None:
        raise ReplyError(NO_MORE_DATA)
    items = [
        b"*3\r\n" + bulk(e.key) + integer(e.size) + integer(e.timestamp_us // 1_000_000)
        for e in entries
    ]
    return b"*2\r\n" + bulk(last) + array(items)


def command_scan(session: Session, args: list[bytes]) -> bytes:
    """SCAN [cursor]: the next entries after the cursor, oldest first."""
    return _scan(session, args, reverse=False)


def command_rscan(session: Session, args: list[bytes]) -> bytes:
    """RSCAN [cursor]: the next entries before the cursor, newest first."""
    return _scan(session, args, reverse=True)


def command_kscan(session: Session, args: list[bytes]) -> bytes:
    """KSCAN prefix: every live key starting with prefix, in one reply (cursor "0")."""
    store = session.store
    if store.settings.mode == "seq":  # 0-db checks the mode before the arguments
        raise ReplyError("Index running mode doesn't support this feature")
    need(args, 2)
    readable(session)
    keys = store.keys(args[1])
    if not keys:
        raise ReplyError(NO_KEYS_MATCH)
    return b"*2\r\n$1\r\n0\r\n" + array([bulk(key) for key in keys])


def command_keycur(session: Session, args: list[bytes]) -> bytes:
    """KEYCUR key (arity in the table): the cursor at the key's entry.

    0-db checks no key length here: a longer key is just not found.
    """
    cursor = readable(session).cursor_of(args[1])
    if cursor is None:
        raise ReplyError(KEY_NOT_FOUND)
    return bulk(cursor)


def command_history(session: Session, args: list[bytes]) -> bytes:
    """HISTORY key [cursor]: one earlier version of the key, and the cursor to the one before."""
    if len(args) not in (2, 3):
        raise ReplyError("Invalid arguments")
    store = readable(session)
    key = args[1]
    if len(key) > MAX_KEY:
        raise ReplyError("Invalid key")
    cursor = None
    if len(args) == 3:
        cursor = args[2]
        if len(cursor) != 8:
            raise ReplyError("Invalid arguments")
    try:
        version = store.history(key, cursor)
    except ValueError as exc:
        # 0-db: a readable entry of another key vs. no entry at that location at all
        if "another key" in str(exc):
            raise ReplyError("Invalid arguments (invalid key)") from None
        raise ReplyError("Invalid arguments (index query)") from None
    if version is None:
        raise ReplyError(KEY_NOT_FOUND)
    parent = NIL if version.cursor is None else bulk(version.cursor)
    stamp = bulk(b"%d" % (version.info.timestamp_us // 1_000_000))
    return b"*3\r\n" + parent + stamp + bulk(version.value)
