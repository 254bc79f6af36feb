"""One namespace of the embedded engine: its in-memory index, its writes, opening and FLUSH.

The class is built in layers, one module each, all of them the same object so that SET's and
GET's hot paths read their fields without a hop: ``segments.py`` (the data and index files),
``walk.py`` (SCAN, KEYCUR, HISTORY), ``reconcile.py`` (the chain matched to the data on open),
then this module; ``recovery.py`` cuts what a crash tore, ``folders.py`` keeps the folders.
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..chain.leaf import OP_CREATE, OP_FLUSH
from ..engine import EntryInfo, Faults, Store
from ..errors import CorruptData, StorageError
from ..files import AppendFile, ReadOnlyFiles
from ..namespace import NamespaceSettings
from .codec import append_entry, index_valid_end, read_value
from .folders import fsync_path, move_to_trash, write_json_atomic
from .format import (
    DATA_HEADER,
    DATA_HEADER_SIZE,
    FLAG_DELETED,
    INDEX_HEADER,
    INDEX_HEADER_SIZE,
    INDEX_OVERHEAD,
    LEAF_SHIFT,
    MAX_FILES,
    NO_PREV,
    data_name,
    entry_valid,
    index_name,
)
from .reconcile import ChainRepair
from .recovery import recover_pair
from .walk import IndexWalk

if TYPE_CHECKING:
    from ..chain.log import ChainFactory

SETTINGS_FILE = "zdb-namespace.json"
# written (durably) before FLUSH removes files, removed after: its presence on open means a
# FLUSH was cut short, and it holds the chain's size when that FLUSH started
FLUSH_MARKER = "zdb-flushing"
# Every MARK_STRIDE bytes of data file, one index record's (data offset, index position) is
# kept in memory, so KEYCUR finds a key's record by a bisection and a read of less than
# MARK_STRIDE bytes of index (a record is never longer than its entry) instead of a walk.
MARK_STRIDE = 4096


class EmbeddedStore(IndexWalk, ChainRepair, Store):
    """A namespace kept in append-only data files with paired index files."""

    def __init__(
        self,
        name: str,
        datadir: str,
        indexdir: str,
        datasize: int,
        settings: NamespaceSettings | None,
        on_dirty: Callable[[EmbeddedStore], None],
        chain: ChainFactory | None = None,
    ) -> None:
        self.name = name
        self._datadir = datadir
        self._indexdir = indexdir
        self._datasize = datasize
        self._on_dirty = on_dirty
        self._dirty = False
        # files sealed by a rotation whose last appends the next sync() must still fsync
        self._sealed_unsynced: list[str] = []
        self._keys: dict[bytes, int] = {}  # key -> location (format.py: LEAF_SHIFT)
        self._dels: dict[bytes, int] = {}  # deleted key -> its DEL leaf, with a chain
        self._sealed = ReadOnlyFiles()
        self._disk_data = 0  # bytes in sealed data files
        self._disk_index = 0
        self._payload = 0  # payload bytes of live keys: what a reservation counts
        self._max_seq = -1
        # file id -> (data offsets, index positions) of marked records, both ascending
        self._marks: dict[int, tuple[array[int], array[int]]] = {}
        self._next_mark = 0  # the active file's data offset from which the next mark is due
        settings_path = os.path.join(indexdir, SETTINGS_FILE)
        if settings is None:
            try:
                with open(settings_path, encoding="utf-8") as fh:
                    settings = NamespaceSettings.from_dict(json.load(fh))
            except (OSError, ValueError) as exc:
                raise StorageError(
                    f"cannot read namespace settings {settings_path}: {exc}"
                ) from exc
        else:
            os.makedirs(datadir, exist_ok=True)
            os.makedirs(indexdir, exist_ok=True)
        self.settings = settings
        self.faults = Faults()
        self._settings_path = settings_path
        self._active = 0
        self._loaded: list[tuple[int, int]] = []  # (file id, index records) while opening
        new = not os.path.exists(settings_path)
        self.chain = self._chain = chain(indexdir, name) if chain is not None else None
        try:
            self._finish_flush()
            self._load()
            if self._chain is not None:
                self._reconcile_chain()
                self._load_leaves()
                self._chain.before_event = self._sync_files
        except OSError as exc:  # a folder gone (a disk not mounted), no permission, EIO
            raise StorageError(f"cannot open namespace '{name}': {exc}") from exc
        finally:
            self._loaded = []
        if new:
            self.save_settings()
            if self._chain is not None and self._chain.size == 0:
                s = self.settings
                text = f"mode={s.mode} public={int(s.public)} maxsize={s.maxsize}"
                self._chain.event(OP_CREATE, b"namespace", extra=text.encode())

    # -- opening and recovery -------------------------------------------------------------
    def _finish_flush(self) -> None:
        """Complete a FLUSH that a crash cut short: its files go, its chain event is written."""
        marker = os.path.join(self._indexdir, FLUSH_MARKER)
        try:
            with open(marker, encoding="ascii") as fh:
                text = fh.read().strip()
        except FileNotFoundError:
            return
        self._remove_files()
        chain = self._chain
        if chain is not None and text.isdigit() and chain.size <= int(text):
            chain.event(OP_FLUSH, b"")
        os.unlink(marker)
        fsync_path(self._indexdir)

    def _load(self) -> None:
        ids = self._fileids()
        last = ids[-1]
        for fid in ids:
            ipath = os.path.join(self._indexdir, index_name(fid))
            dpath = os.path.join(self._datadir, data_name(fid))
            try:
                with open(ipath, "rb") as fh:
                    buf = fh.read()
            except FileNotFoundError:
                buf = b""
            got = recover_pair(
                self.name, self._datadir, fid, buf, index_valid_end(buf), self.faults
            )
            valid_end, data_end, rebuilt = got.index_end, got.data_end, got.rebuilt
            data = AppendFile(dpath)
            index = AppendFile(ipath)
            if index.size != valid_end:
                index.truncate(valid_end)
            if rebuilt:
                index.append(rebuilt)
                index.flush()
            if data.size != data_end:
                data.truncate(data_end)
            if fid == last:
                self._data, self._index = data, index
            else:
                self._disk_data += data.size
                self._disk_index += index.size
                data.close()
                index.close()
            count = self._replay(buf, valid_end, fid, 0)
            count += self._replay(rebuilt, len(rebuilt), fid, valid_end)
            self._loaded.append((fid, count))
            del buf
        self._active = last
        offsets = self._marks[last][0]
        self._next_mark = offsets[-1] + MARK_STRIDE if offsets else 0

    def _replay(self, buf: bytes, end: int, fileid: int, base: int) -> int:
        """Apply the (already validated) index records in buf[:end] to the in-memory index.

        One pass, no intermediate records: the only objects that stay are the keys and their
        locations, so the heap is as compact after a restart as after live writes. ``base`` is
        where buf starts in the index file (for the marks).
        """
        keys = self._keys
        unpack = INDEX_HEADER.unpack_from
        fshift = fileid << 32
        overhead = DATA_HEADER_SIZE
        seq = self.settings.mode == "seq"
        payload = 0
        max_seq = self._max_seq
        mark_offsets, mark_positions = self._marks.setdefault(fileid, (array("Q"), array("Q")))
        next_mark = mark_offsets[-1] + MARK_STRIDE if mark_offsets else 0
        pos = 0
        records = 0
        while pos < end:
            records += 1
            _crc, flags, keylen, offset, entrylen, _ts = unpack(buf, pos)
            if offset >= next_mark:
                mark_offsets.append(offset)
                mark_positions.append(base + pos)
                next_mark = offset + MARK_STRIDE
            start = pos + INDEX_HEADER_SIZE
            key = buf[start : start + keylen]
            pos = start + keylen + 2
            if seq:
                max_seq = max(max_seq, int.from_bytes(key, "little"))
            old = keys.get(key)
            if old is not None:
                payload -= ((old >> 48) & 0xFFFFFFFF) - overhead - keylen
            if flags & FLAG_DELETED:
                if old is not None:
                    del keys[key]
            else:
                keys[key] = (entrylen << 48) | fshift | offset
                payload += entrylen - overhead - keylen
        self._payload += payload
        self._max_seq = max_seq
        return records

    # -- sizes (entries, data_size, next_id: Store's) ----------------------------------------
    @property
    def disk_size(self) -> int:
        """Bytes of data files, history and tombstones included (what compaction shrinks)."""
        return self._disk_data + self._data.size

    @property
    def index_size(self) -> int:
        return self._disk_index + self._index.size

    # -- reading ----------------------------------------------------------------------------
    def _entry(self, loc: int, key: bytes) -> bytes:
        entrylen = (loc >> 48) & 0xFFFFFFFF
        fileid = (loc >> 32) & 0xFFFF
        offset = loc & 0xFFFFFFFF
        raw = self._read(fileid, offset, entrylen)
        if not entry_valid(raw) or raw[DATA_HEADER_SIZE : DATA_HEADER_SIZE + len(key)] != key:
            raise CorruptData(
                f"entry of key {key!r} in namespace '{self.name}' "
                f"({data_name(fileid)} offset {offset}) fails its checksum"
            )
        return raw

    def get(self, key: bytes) -> bytes | None:
        # the hot path of GET (and of SET's check for a byte-identical value)
        loc = self._keys.get(key)
        if loc is None:
            return None
        if (loc >> 32) & 0xFFFF == self._active:
            value = read_value(self._data._map, loc & 0xFFFFFFFF, (loc >> 48) & 0xFFFFFFFF, key)
            if value is not None:
                return value
        raw = self._entry(loc, key)  # a sealed file, or raises CorruptData with the details
        return raw[DATA_HEADER_SIZE + len(key) :]

    def info(self, key: bytes) -> EntryInfo | None:
        loc = self._keys.get(key)
        if loc is None:
            return None
        fileid = (loc >> 32) & 0xFFFF
        header = self._read(fileid, loc & 0xFFFFFFFF, DATA_HEADER_SIZE)
        _crc, _flags, _keylen, vallen, ts, _prev = DATA_HEADER.unpack(header)
        return EntryInfo(key, vallen, ts)

    def contains(self, key: bytes) -> bool:
        return key in self._keys

    def check(self, key: bytes) -> bool | None:
        loc = self._keys.get(key)
        if loc is None:
            return None
        try:
            self._entry(loc, key)
        except CorruptData:
            return False
        return True

    # -- writing ----------------------------------------------------------------------------
    def stored_size(self, key: bytes) -> int | None:
        loc = self._keys.get(key)
        return None if loc is None else ((loc >> 48) & 0xFFFFFFFF) - DATA_HEADER_SIZE - len(key)

    def _append(self, flags: int, key: bytes, value: bytes, ts: int, old: int | None) -> None:
        # the hot path of SET (entry and record: codec.py); old is the key's current
        # location, or None
        keylen = len(key)
        vallen = len(value)
        prev = NO_PREV if old is None else old & 0xFFFFFFFFFFFF
        entrylen = DATA_HEADER_SIZE + keylen + vallen
        data = self._data
        if data.size + entrylen > self._datasize and data.size:
            self._rotate()
            data = self._data
        offset = append_entry(data, self._index, flags, key, value, ts, prev)
        if offset >= self._next_mark:
            self._mark(offset, keylen)
        keys = self._keys
        if old is not None:
            self._payload -= ((old >> 48) & 0xFFFFFFFF) - DATA_HEADER_SIZE - keylen
        loc = (entrylen << 48) | (self._active << 32) | offset
        chain = self._chain
        deleted = flags & FLAG_DELETED
        if chain is not None:
            leaf = chain.add(bool(deleted), key, value, ts)
            if deleted:
                self._dels[key] = leaf
            else:
                loc |= (leaf + 1) << LEAF_SHIFT
                if self._dels:
                    self._dels.pop(key, None)
        if deleted:
            keys.pop(key, None)
        else:
            keys[key] = loc
            self._payload += vallen
            if keylen == 8 and self.settings.mode == "seq":
                seq = int.from_bytes(key, "little")
                if seq > self._max_seq:
                    self._max_seq = seq
        if not self._dirty:
            self._dirty = True
            self._on_dirty(self)

    def _mark(self, offset: int, keylen: int) -> None:
        """Keep the just appended record's place (see MARK_STRIDE)."""
        offsets, positions = self._marks.setdefault(self._active, (array("Q"), array("Q")))
        offsets.append(offset)
        positions.append(self._index.size - INDEX_OVERHEAD - keylen)
        self._next_mark = offset + MARK_STRIDE

    def _rotate(self) -> None:
        if self._active >= MAX_FILES:
            raise StorageError(f"namespace '{self.name}' has used all {MAX_FILES} data files")
        self._data.close()
        self._index.close()
        # a batch that crosses a rotation wrote to these files too: sync() must fsync them
        self._sealed_unsynced += (self._data.path, self._index.path)
        self._disk_data += self._data.size
        self._disk_index += self._index.size
        self._active += 1
        self._next_mark = 0
        self._data = AppendFile(os.path.join(self._datadir, data_name(self._active)))
        self._index = AppendFile(os.path.join(self._indexdir, index_name(self._active)))

    def put(self, key: bytes, value: bytes, timestamp_us: int) -> None:
        self._append(0, key, value, timestamp_us, self._keys.get(key))

    def delete(self, key: bytes, timestamp_us: int) -> bool:
        old = self._keys.get(key)
        if old is None:
            return False
        self._append(FLAG_DELETED, key, b"", timestamp_us, old)
        return True

    def flush(self) -> None:
        # appends are already in the page cache (files.py); the chain hashes the batch
        if self._chain is not None:
            self._chain.commit()
        self._dirty = False

    def sync(self) -> None:
        if self._chain is not None:
            self._chain.sync()
        self._sync_files()
        self._dirty = False

    # -- whole namespace --------------------------------------------------------------------
    def clear(self) -> None:
        # a crash part way must not bring back some files, nor leave the chain without its
        # FLUSH: the marker makes the next open finish the job (_finish_flush)
        chain = self._chain
        marker = os.path.join(self._indexdir, FLUSH_MARKER)
        with open(marker, "w", encoding="ascii") as fh:
            fh.write(str(chain.size if chain is not None else 0))
            fh.flush()
            os.fsync(fh.fileno())
        fsync_path(self._indexdir)
        self._close_files()
        self._remove_files()
        self._keys = {}
        self._dels = {}
        self._marks = {}
        self._next_mark = 0
        self._disk_data = self._disk_index = self._payload = 0
        self._max_seq = -1
        self._active = 0
        self._data = AppendFile(os.path.join(self._datadir, data_name(0)))
        self._index = AppendFile(os.path.join(self._indexdir, index_name(0)))
        if chain is not None:
            chain.event(OP_FLUSH, b"")  # durable before the marker goes
        os.unlink(marker)
        fsync_path(self._indexdir)

    def save_settings(self) -> None:
        write_json_atomic(self._settings_path, self.settings.to_dict())

    def close(self) -> None:
        try:
            self._close_files()
        finally:
            if self._chain is not None:
                self._chain.close()

    def remove(self) -> None:
        self.close()
        # the index folder first: without it the namespace is gone, whatever happens next
        move_to_trash(self._indexdir)
        move_to_trash(self._datadir)


__all__ = ["FLUSH_MARKER", "MARK_STRIDE", "SETTINGS_FILE", "EmbeddedStore"]
