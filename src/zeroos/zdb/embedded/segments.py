"""The data and index files of one embedded namespace: the active pair that appends go to,
the sealed ones read by file id, and the index records they hold.

:class:`SegmentFiles` is the first layer of :class:`~.store.EmbeddedStore` (a base class, not
a member: SET's and GET's hot paths read ``self._data`` with no extra hop); ``walk.py`` and
``reconcile.py`` build on it, ``store.py`` keeps the in-memory index and the writes.
"""

from __future__ import annotations

import os

from crc32c import crc32c

from ..files import AppendFile, ReadOnlyFiles
from .folders import fsync_path
from .format import INDEX_HEADER, INDEX_HEADER_SIZE, INDEX_OVERHEAD, data_name, index_name

# An index record as parsed: (flags, key, offset, entrylen, timestamp_us, position, reclen)
Record = tuple[int, bytes, int, int, int, int, int]


def parse_records(buf: bytes) -> tuple[list[Record], int]:
    """Parse an index file; return its valid records and where the valid part ends."""
    records: list[Record] = []
    append = records.append
    unpack = INDEX_HEADER.unpack_from
    view = memoryview(buf)
    pos = 0
    end = len(buf)
    while pos + INDEX_OVERHEAD <= end:
        crc, flags, keylen, offset, entrylen, ts = unpack(buf, pos)
        reclen = INDEX_OVERHEAD + keylen
        nxt = pos + reclen
        if nxt > end or crc32c(view[pos + 4 : nxt]) != crc:
            break
        append((flags, buf[pos + INDEX_HEADER_SIZE : nxt - 2], offset, entrylen, ts, pos, reclen))
        pos = nxt
    view.release()
    return records, pos


class SegmentFiles:
    """The files of a namespace: ``_active`` is the id of the pair appended to."""

    name: str
    _datadir: str
    _indexdir: str
    _data: AppendFile  # the active pair
    _index: AppendFile
    _active: int
    _sealed: ReadOnlyFiles  # the sealed files, opened for reading when first read
    # files sealed by a rotation whose last appends the next sync() must still fsync
    _sealed_unsynced: list[str]

    def _remove_files(self) -> None:
        for folder in (self._datadir, self._indexdir):
            for entry in os.listdir(folder):
                if entry.startswith(("zdb-data-", "zdb-index-")):
                    os.unlink(os.path.join(folder, entry))
            fsync_path(folder)

    def _fileids(self) -> list[int]:
        ids: set[int] = set()
        for folder, prefix in ((self._datadir, "zdb-data-"), (self._indexdir, "zdb-index-")):
            for entry in os.listdir(folder):
                if entry.startswith(prefix) and entry[len(prefix) :].isdigit():
                    ids.add(int(entry[len(prefix) :]))
        return sorted(ids) or [0]

    def _read(self, fileid: int, offset: int, length: int) -> bytes:
        if fileid == self._active:
            return self._data.read(offset, length)
        return self._sealed.read(os.path.join(self._datadir, data_name(fileid)), offset, length)

    def _index_read(self, fileid: int, offset: int, length: int) -> bytes:
        if fileid == self._active:
            return self._index.read(offset, length)
        path = os.path.join(self._indexdir, index_name(fileid))
        return self._sealed.read(path, offset, length)

    def _index_len(self, fileid: int) -> int:
        if fileid == self._active:
            return self._index.size
        try:
            return os.path.getsize(os.path.join(self._indexdir, index_name(fileid)))
        except FileNotFoundError:
            return 0

    def _record_at(self, fileid: int, pos: int) -> Record:
        head = self._index_read(fileid, pos, INDEX_HEADER_SIZE)
        if len(head) < INDEX_HEADER_SIZE:
            raise ValueError("cursor points past the index")
        _crc, flags, keylen, offset, entrylen, ts = INDEX_HEADER.unpack(head)
        reclen = INDEX_OVERHEAD + keylen
        raw = self._index_read(fileid, pos, reclen)
        if len(raw) != reclen or int.from_bytes(raw[:4], "little") != crc32c(raw[4:]):
            raise ValueError("cursor does not point at an index record")
        return flags, raw[INDEX_HEADER_SIZE:-2], offset, entrylen, ts, pos, reclen

    def _sync_files(self) -> None:
        """Make the data and index files durable (what the chain's leaves stand for)."""
        self._data.sync()
        self._index.sync()
        if self._sealed_unsynced:
            # files sealed since the last sync, then the folders that got new files
            for path in (*self._sealed_unsynced, self._datadir, self._indexdir):
                fsync_path(path)
            self._sealed_unsynced = []

    def _close_files(self) -> None:
        self._data.close()
        self._index.close()
        self._sealed.close()


__all__ = ["Record", "SegmentFiles", "parse_records"]
