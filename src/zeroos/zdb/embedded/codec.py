"""The embedded engine's hot paths over its files' maps: a SET's entry and record, a GET's value.

The C module (``zeroos.zdb._native``, built when a compiler is there: setup.py) encodes an
entry and its index record straight into the files' memory maps with their CRCs, and checks
and copies a value out in one call; without it the same work is done here in Python, with
format.py's layouts. tests/zdb/test_native.py checks both give the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from crc32c import crc32c

from ..chain.leaf import OP_DEL, OP_SET
from ..chain.native import key_leaves_of
from ..files import AppendFile
from ..native import c_module
from .format import (
    DATA_HEADER_SIZE,
    INDEX_HEADER,
    INDEX_OVERHEAD,
    encode_entry,
    encode_record,
    entry_valid,
)

WriteEntry = Callable[[Any, int, Any, int, int, bytes, bytes, int, int], None]
ReadValue = Callable[[Any, int, int, bytes], "bytes | None"]


def py_write_entry(
    dmap: Any,
    dpos: int,
    imap: Any,
    ipos: int,
    flags: int,
    key: bytes,
    value: bytes,
    timestamp_us: int,
    prev: int,
) -> None:
    """Write a data entry at ``dpos`` of ``dmap`` and its index record at ``ipos`` of ``imap``."""
    entry = encode_entry(flags, key, value, timestamp_us, prev)
    record = encode_record(flags, key, dpos, len(entry), timestamp_us)
    if dpos + len(entry) > len(dmap) or ipos + len(record) > len(imap):
        raise ValueError("no room for the entry: grow the file first")
    dmap[dpos : dpos + len(entry)] = entry
    imap[ipos : ipos + len(record)] = record


def py_read_value(dmap: Any, offset: int, entrylen: int, key: bytes) -> bytes | None:
    """The value of the entry at ``offset``, or None if it fails its CRC or holds another key."""
    raw = dmap[offset : offset + entrylen]
    start = DATA_HEADER_SIZE + len(key)
    if len(raw) != entrylen or not entry_valid(raw) or raw[DATA_HEADER_SIZE:start] != key:
        return None
    if raw[5] != len(key) or int.from_bytes(raw[6:10], "little") != entrylen - start:
        return None
    return bytes(raw[start:])


def py_index_valid_end(buf: bytes) -> int:
    """Where the run of whole, checksummed records at the start of an index file ends."""
    view = memoryview(buf)
    unpack = INDEX_HEADER.unpack_from
    pos = 0
    end = len(buf)
    try:
        while pos + INDEX_OVERHEAD <= end:
            crc = unpack(buf, pos)[0]
            nxt = pos + INDEX_OVERHEAD + buf[pos + 5]
            if nxt > end or crc32c(view[pos + 4 : nxt]) != crc:
                break
            pos = nxt
    finally:
        view.release()
    return pos


def _entry_len_at(buf: bytes, view: memoryview, pos: int, end: int) -> int:
    """The length of the whole, checksummed data entry at ``pos``, or 0 if there is none."""
    if pos + DATA_HEADER_SIZE > end:
        return 0
    entrylen = DATA_HEADER_SIZE + buf[pos + 5] + int.from_bytes(buf[pos + 6 : pos + 10], "little")
    if pos + entrylen > end or crc32c(view[pos + 4 : pos + entrylen]) != int.from_bytes(
        buf[pos : pos + 4], "little"
    ):
        return 0
    return entrylen


_NONZERO = re.compile(rb"[^\x00]")


def py_scan_entries(buf: bytes, start: int) -> list[tuple[int, int, bool]]:
    """Split ``buf[start:]`` into whole entries and damaged stretches: (offset, length, whole).

    A damaged stretch ends where the next whole entry starts (or at the end of ``buf``). A
    damaged entry whose header still holds its length, and is followed right there by a whole
    entry, is one stretch of that length; otherwise the scan looks for the next whole entry
    byte by byte. A header of 26 zero bytes is never an entry (its CRC would not be 0), so
    runs of zeros (space reserved ahead, files.py) are skipped at once.
    """
    view = memoryview(buf)
    end = len(buf)
    out: list[tuple[int, int, bool]] = []
    pos = start
    bad = -1  # where the current damaged stretch starts
    try:
        while pos < end:
            entrylen = _entry_len_at(buf, view, pos, end)
            if entrylen:
                if bad >= 0:
                    out.append((bad, pos - bad, False))
                    bad = -1
                out.append((pos, entrylen, True))
                pos += entrylen
                continue
            if bad < 0:
                bad = pos
                if pos + DATA_HEADER_SIZE <= end:
                    declared = (
                        DATA_HEADER_SIZE
                        + buf[pos + 5]
                        + int.from_bytes(buf[pos + 6 : pos + 10], "little")
                    )
                    if pos + declared < end and _entry_len_at(buf, view, pos + declared, end):
                        pos += declared
                        continue
            pos += 1
            if pos < end and buf[pos] == 0:
                found = _NONZERO.search(buf, pos)
                pos = max(pos, (found.start() if found else end) - DATA_HEADER_SIZE + 1)
    finally:
        view.release()
    if bad >= 0:
        out.append((bad, end - bad, False))
    return out


def py_apply_key_leaves(
    buf: bytes, count: int, keys: dict[bytes, int], dels: dict[bytes, int], shift: int
) -> None:
    """Learn each key's current chain leaf from the first ``count`` records of a leaves file.

    A live key's leaf goes into its location int as ``(leaf + 1) << shift`` (format.py); a
    deleted key's DEL leaf goes to ``dels``; FLUSH and RELEASE forget the deleted keys before.
    """
    mask = (1 << shift) - 1
    for i, op, key in key_leaves_of(buf, count):
        if op == OP_SET:
            loc = keys.get(key)
            if loc is not None:
                keys[key] = (loc & mask) | ((i + 1) << shift)
            dels.pop(key, None)
        elif op == OP_DEL:
            if key not in keys:
                dels[key] = i
        else:  # FLUSH or RELEASE: every key before it is gone
            dels.clear()


_c = c_module
write_entry: WriteEntry = _c.write_entry if _c is not None else py_write_entry
read_value: ReadValue = _c.read_value if _c is not None else py_read_value
index_valid_end: Callable[[bytes], int] = (
    _c.index_valid_end if _c is not None else py_index_valid_end
)
scan_entries: Callable[[bytes, int], list[tuple[int, int, bool]]] = (
    _c.scan_entries if _c is not None else py_scan_entries
)
apply_key_leaves: Callable[[bytes, int, dict[bytes, int], dict[bytes, int], int], None] = (
    _c.apply_key_leaves if _c is not None else py_apply_key_leaves
)


def append_entry(
    data: AppendFile,
    index: AppendFile,
    flags: int,
    key: bytes,
    value: bytes,
    timestamp_us: int,
    prev: int,
) -> int:
    """Append one entry to ``data`` and its record to ``index``; return the entry's offset.

    The files' sizes move only once both are written, so a failed write leaves no hole: the
    next append overwrites whatever it left in the reserved space.
    """
    # the hot path of SET: AppendFile's fields are used directly (same package)
    keylen = len(key)
    entrylen = DATA_HEADER_SIZE + keylen + len(value)
    reclen = INDEX_OVERHEAD + keylen
    dpos = data._size
    ipos = index._size
    if dpos + entrylen > data._cap:
        data._grow(entrylen)
    if ipos + reclen > index._cap:
        index._grow(reclen)
    write_entry(data._map, dpos, index._map, ipos, flags, key, value, timestamp_us, prev)
    data._size = dpos + entrylen
    index._size = ipos + reclen
    return dpos


__all__ = [
    "append_entry",
    "apply_key_leaves",
    "index_valid_end",
    "py_apply_key_leaves",
    "py_index_valid_end",
    "py_read_value",
    "py_scan_entries",
    "py_write_entry",
    "read_value",
    "scan_entries",
    "write_entry",
]
