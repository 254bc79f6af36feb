"""The walks over an embedded namespace's index: SCAN and RSCAN, KEYCUR, HISTORY."""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_right
from collections.abc import Iterator

from ..engine import EntryInfo, Version
from ..errors import CorruptData, StorageError
from .format import (
    DATA_HEADER,
    DATA_HEADER_SIZE,
    FLAG_DELETED,
    INDEX_OVERHEAD,
    INDEX_TRAILER,
    LOC_MASK,
    MAX_FILE_OFFSET,
    NO_PREV,
    entry_valid,
)
from .segments import Record, SegmentFiles, parse_records

_CURSOR = struct.Struct("<HI")
_SCAN_CHUNK = 64 * 1024


class IndexWalk(SegmentFiles):
    """The walks of :class:`~.store.EmbeddedStore` (its second layer, over its files)."""

    _keys: dict[bytes, int]  # key -> location (format.py: LEAF_SHIFT)
    # file id -> (data offsets, index positions) of marked records, both ascending
    _marks: dict[int, tuple[array[int], array[int]]]

    def _is_current(self, fileid: int, rec: Record) -> bool:
        flags, key, offset, entrylen = rec[0], rec[1], rec[2], rec[3]
        if flags & FLAG_DELETED:
            return False
        loc = self._keys.get(key)
        return loc is not None and loc & LOC_MASK == (entrylen << 48) | (fileid << 32) | offset

    def cursor_of(self, key: bytes) -> bytes | None:
        loc = self._keys.get(key)
        if loc is None:
            return None
        fileid = (loc >> 32) & 0xFFFF
        target = loc & 0xFFFFFFFF
        # the entry's record lies between the last mark at or before it and the next mark
        offsets, positions = self._marks[fileid]
        i = bisect_right(offsets, target) - 1
        pos = positions[i]
        end = positions[i + 1] if i + 1 < len(positions) else self._index_len(fileid)
        records, _used = parse_records(self._index_read(fileid, pos, end - pos))
        for rec in records:
            if rec[2] == target:
                return _CURSOR.pack(fileid, pos + rec[5])
        raise StorageError(f"index of namespace '{self.name}' has no record of key {key!r}")

    def scan(
        self, cursor: bytes | None, limit: int, reverse: bool = False, walk: int = 0
    ) -> tuple[list[EntryInfo], bytes | None]:
        if cursor is not None:
            if len(cursor) != _CURSOR.size:
                raise ValueError("invalid cursor")
            fileid, pos = _CURSOR.unpack(cursor)
            if fileid > self._active:
                raise ValueError("invalid cursor")
            rec = self._record_at(fileid, pos)
            records = (
                self._backward(fileid, pos) if reverse else self._forward(fileid, pos + rec[6])
            )
        elif reverse:
            records = self._backward(self._active, self._index_len(self._active))
        else:
            records = self._forward(self._fileids()[0], 0)
        found: list[EntryInfo] = []
        last: bytes | None = None
        left = walk or -1  # records still to look at; negative: no bound
        if limit <= 0:
            return found, last
        for fileid, pos, rec in records:
            left -= 1
            current = self._is_current(fileid, rec)
            if current:
                found.append(EntryInfo(rec[1], rec[3] - DATA_HEADER_SIZE - len(rec[1]), rec[4]))
            if current or not left:
                last = _CURSOR.pack(fileid, pos)
                if len(found) >= limit or not left:
                    break
        return found, last

    def _forward(self, fileid: int, pos: int) -> Iterator[tuple[int, int, Record]]:
        """The index records from (fileid, pos) on, oldest first, with their positions."""
        while fileid <= self._active:
            size = self._index_len(fileid)
            while pos < size:
                buf = self._index_read(fileid, pos, min(_SCAN_CHUNK, size - pos))
                records, used = parse_records(buf)
                if used == 0:
                    raise StorageError(f"index of namespace '{self.name}' is damaged")
                for rec in records:
                    yield fileid, pos + rec[5], rec
                pos += used
            fileid, pos = fileid + 1, 0

    def _backward(self, fileid: int, pos: int) -> Iterator[tuple[int, int, Record]]:
        """The index records before (fileid, pos), newest first, with their positions."""
        while fileid >= 0:
            while pos > 0:
                tail = self._index_read(fileid, pos - INDEX_TRAILER.size, INDEX_TRAILER.size)
                (reclen,) = INDEX_TRAILER.unpack(tail)
                if reclen < INDEX_OVERHEAD or reclen > pos:
                    raise StorageError(f"index of namespace '{self.name}' is damaged")
                pos -= reclen
                yield fileid, pos, self._record_at(fileid, pos)
            fileid -= 1
            pos = self._index_len(fileid) if fileid >= 0 else 0

    def history(self, key: bytes, cursor: bytes | None) -> Version | None:
        if cursor is None:
            loc = self._keys.get(key)
            if loc is None:
                return None
            fileid, offset = (loc >> 32) & 0xFFFF, loc & 0xFFFFFFFF
        else:
            if len(cursor) != 8:
                raise ValueError("invalid cursor")
            short = int.from_bytes(cursor, "little")
            fileid, offset = short >> 32, short & 0xFFFFFFFF
            if fileid > self._active or offset > MAX_FILE_OFFSET:
                raise ValueError("invalid cursor")
        header = self._read(fileid, offset, DATA_HEADER_SIZE)
        if len(header) < DATA_HEADER_SIZE:
            raise ValueError("invalid cursor")
        _crc, flags, keylen, vallen, ts, prev = DATA_HEADER.unpack(header)
        raw = self._read(fileid, offset, DATA_HEADER_SIZE + keylen + vallen)
        if not entry_valid(raw):
            if cursor is not None:
                raise ValueError("invalid cursor")
            raise CorruptData(f"entry of key {key!r} in namespace '{self.name}' is corrupt")
        if raw[DATA_HEADER_SIZE : DATA_HEADER_SIZE + keylen] != key:
            raise ValueError("cursor belongs to another key")
        nxt = None if prev == NO_PREV else prev.to_bytes(8, "little")
        info = EntryInfo(key, vallen, ts, bool(flags & FLAG_DELETED))
        return Version(info, raw[DATA_HEADER_SIZE + keylen :], nxt)


__all__ = ["IndexWalk"]
