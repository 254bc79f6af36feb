"""One namespace of the embedded engine: its files, its in-memory index, recovery on open."""

from __future__ import annotations

import json
import os
import shutil
import struct
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from crc32c import crc32c

from ..chain.leaf import OP_CREATE, OP_DEL, OP_FLUSH, OP_SET, Leaf, value_hash
from ..engine import EntryInfo, Faults, Store, Version
from ..errors import CorruptData, StorageError
from ..files import AppendFile, ReadOnlyFiles
from ..namespace import NamespaceSettings
from .codec import append_entry, apply_key_leaves, index_valid_end, read_value
from .format import (
    DATA_HEADER,
    DATA_HEADER_SIZE,
    FLAG_DELETED,
    INDEX_HEADER,
    INDEX_HEADER_SIZE,
    INDEX_OVERHEAD,
    INDEX_TRAILER,
    LEAF_SHIFT,
    LOC_MASK,
    MAX_FILE_OFFSET,
    MAX_FILES,
    NO_PREV,
    data_name,
    entry_valid,
    index_name,
)
from .recovery import recover_pair

if TYPE_CHECKING:
    from ..chain.log import ChainFactory

SETTINGS_FILE = "zdb-namespace.json"
# written (durably) before FLUSH removes files, removed after: its presence on open means a
# FLUSH was cut short, and it holds the chain's size when that FLUSH started
FLUSH_MARKER = "zdb-flushing"
# a dropped namespace's folders are renamed to this prefix before they are deleted; "~" is
# not allowed in namespace names, so what carries it is never mistaken for a namespace
TRASH_PREFIX = "~trash~"
_CURSOR = struct.Struct("<HI")
_SCAN_CHUNK = 64 * 1024
# Every MARK_STRIDE bytes of data file, one index record's (data offset, index position) is
# kept in memory, so KEYCUR finds a key's record by a bisection and a read of less than
# MARK_STRIDE bytes of index (a record is never longer than its entry) instead of a walk.
MARK_STRIDE = 4096

# An index record as parsed: (flags, key, offset, entrylen, timestamp_us, position, reclen)
Record = tuple[int, bytes, int, int, int, int, int]


def write_json_atomic(path: str, data: dict[str, object]) -> None:
    """Replace a small JSON file so that a crash leaves the old or the new one, never half."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)  # the file holds the namespace password
    os.replace(tmp, path)
    dirfd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def move_to_trash(folder: str) -> None:
    """Take a folder away at once (one rename, made durable), then delete it."""
    parent, name = os.path.split(folder)
    trash = os.path.join(parent, f"{TRASH_PREFIX}{name}~{os.urandom(4).hex()}")
    try:
        os.rename(folder, trash)
    except FileNotFoundError:
        return
    _fsync_path(parent)
    shutil.rmtree(trash, ignore_errors=True)


def empty_trash(parent: str) -> None:
    """Delete what a crash left of dropped namespaces (on start)."""
    for entry in os.listdir(parent):
        if entry.startswith(TRASH_PREFIX):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _fsync_path(path: str) -> None:
    """fsync a file or a folder by name (gone already: nothing to make durable)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        raise StorageError(f"cannot sync {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)


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


class _Tail:
    """The index records of a namespace by position, read backwards from the end on demand.

    Reconciling the chain looks at the newest records only: walking back over them with their
    trailing lengths costs what is read, where parsing whole index files cost seconds and left
    a million tuples' worth of freed memory behind at 1 M keys.
    """

    def __init__(self, store: EmbeddedStore, counts: list[tuple[int, int]]) -> None:
        self._store = store
        self._counts = counts
        self._total = sum(c for _, c in counts)
        self._back: dict[int, list[int]] = {}  # file id -> record positions, newest first

    def __len__(self) -> int:
        return self._total

    def _positions(self, fid: int, need: int) -> list[int]:
        positions = self._back.setdefault(fid, [])
        store = self._store
        pos = positions[-1] if positions else store._index_len(fid)
        while len(positions) < need and pos > 0:
            (reclen,) = INDEX_TRAILER.unpack(store._index_read(fid, pos - 2, 2))
            pos -= reclen
            positions.append(pos)
        return positions

    def __getitem__(self, j: int) -> tuple[int, Record]:
        for fid, count in self._counts:
            if j < count:
                back = count - j  # 1 is the newest record of the file
                positions = self._positions(fid, back)
                if len(positions) < back:
                    raise StorageError(f"index of namespace '{self._store.name}' is damaged")
                return fid, self._store._record_at(fid, positions[back - 1])
            j -= count
        raise IndexError(j)

    def since(self, j: int) -> Iterator[tuple[int, Record]]:
        for i in range(j, self._total):
            yield self[i]


class EmbeddedStore(Store):
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
        _fsync_path(self._indexdir)

    def _remove_files(self) -> None:
        for folder in (self._datadir, self._indexdir):
            for entry in os.listdir(folder):
                if entry.startswith(("zdb-data-", "zdb-index-")):
                    os.unlink(os.path.join(folder, entry))
            _fsync_path(folder)

    def _fileids(self) -> list[int]:
        ids: set[int] = set()
        for folder, prefix in ((self._datadir, "zdb-data-"), (self._indexdir, "zdb-index-")):
            for entry in os.listdir(folder):
                if entry.startswith(prefix) and entry[len(prefix) :].isdigit():
                    ids.add(int(entry[len(prefix) :]))
        return sorted(ids) or [0]

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

    def _reconcile_chain(self) -> None:
        """Make the chain's SET/DEL leaves match the data entries (after a crash or --no-chain).

        Only torn tails are repaired: leaves of entries lost with a torn data tail (never
        acknowledged) are cut, entries without a leaf get one rebuilt from the data. The
        newest leaves are checked against their entries; a difference there is not a crash's
        doing and is left for `zos zdb verify` to name (counted in stats_data_faults).
        """
        chain = self._chain
        assert chain is not None
        flat = _Tail(self, self._loaded)
        expected = chain.boundary_base + chain.data_since_boundary
        if len(flat) < expected:
            # leaves past the data: the data tail they stand for was torn
            tail = chain.data_leaves_tail(expected - len(flat))
            if tail and tail[-1][0] == chain.size - 1 and len(tail) == expected - len(flat):
                chain.truncate(tail[0][0])
                self.faults.index_faults += len(tail)
            expected = chain.boundary_base + chain.data_since_boundary
        covered = min(expected, len(flat))
        # check the newest leaves against their entries; rebuild from the first that differs
        check = []
        if expected <= len(flat):
            count = min(64, chain.data_since_boundary, covered - chain.boundary_base)
            check = chain.data_leaves_tail(max(0, count))
        first_entry = covered - len(check)
        for j, (_index, leaf) in enumerate(check):
            fid, rec = flat[first_entry + j]
            if leaf != self._leaf_of(fid, rec, leaf.seq):
                # both sides present but different: not a crash (data is written first), so
                # tampering or rot; never "repaired" here: `zos zdb verify` names it
                self.faults.data_faults += 1
        for fid, rec in flat.since(covered):
            chain.append_data_leaf(self._leaf_of(fid, rec, chain.size))
            self.faults.index_faults += 1
        chain.commit()

    def _load_leaves(self) -> None:
        """Learn each key's current chain leaf (after the chain matches the data)."""
        chain = self._chain
        if chain is None:
            return
        apply_key_leaves(chain.records(), chain.size, self._keys, self._dels, LEAF_SHIFT)

    def chain_leaf(self, key: bytes) -> int | None:
        loc = self._keys.get(key)
        if loc is None:
            return self._dels.get(key)
        leaf = loc >> LEAF_SHIFT
        return leaf - 1 if leaf else None

    def _leaf_of(self, fid: int, rec: Record, seq: int) -> Leaf:
        flags, key, offset, entrylen, rts = rec[0], rec[1], rec[2], rec[3], rec[4]
        raw = self._read(fid, offset, entrylen)
        value = raw[DATA_HEADER_SIZE + len(key) :]
        deleted = bool(flags & FLAG_DELETED)
        return Leaf(
            OP_DEL if deleted else OP_SET,
            seq,
            rts,
            self.name,
            key,
            value_hash(b"" if deleted else value),
        )

    # -- sizes (entries, data_size, next_id: Store's) ----------------------------------------
    @property
    def disk_size(self) -> int:
        """Bytes of data files, history and tombstones included (what compaction shrinks)."""
        return self._disk_data + self._data.size

    @property
    def index_size(self) -> int:
        return self._disk_index + self._index.size

    # -- reading ----------------------------------------------------------------------------
    def _read(self, fileid: int, offset: int, length: int) -> bytes:
        if fileid == self._active:
            return self._data.read(offset, length)
        return self._sealed.read(os.path.join(self._datadir, data_name(fileid)), offset, length)

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

    def _sync_files(self) -> None:
        """Make the data and index files durable (what the chain's leaves stand for)."""
        self._data.sync()
        self._index.sync()
        if self._sealed_unsynced:
            # files sealed since the last sync, then the folders that got new files
            for path in (*self._sealed_unsynced, self._datadir, self._indexdir):
                _fsync_path(path)
            self._sealed_unsynced = []

    def sync(self) -> None:
        if self._chain is not None:
            self._chain.sync()
        self._sync_files()
        self._dirty = False

    # -- walking ----------------------------------------------------------------------------
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
        found: list[EntryInfo] = []
        last: bytes | None = None
        left = walk or -1  # records still to look at; negative: no bound
        if not reverse:
            if cursor is None:
                fileid, pos = self._fileids()[0], 0
            else:
                pos += rec[6]
            while fileid <= self._active and len(found) < limit and left:
                size = self._index_len(fileid)
                while pos < size and len(found) < limit and left:
                    buf = self._index_read(fileid, pos, min(_SCAN_CHUNK, size - pos))
                    records, used = parse_records(buf)
                    if used == 0:
                        raise StorageError(f"index of namespace '{self.name}' is damaged")
                    for rec in records:
                        left -= 1
                        current = self._is_current(fileid, rec)
                        if current:
                            found.append(
                                EntryInfo(rec[1], rec[3] - DATA_HEADER_SIZE - len(rec[1]), rec[4])
                            )
                        if current or not left:
                            last = _CURSOR.pack(fileid, pos + rec[5])
                            if len(found) >= limit or not left:
                                break
                    pos += used
                fileid, pos = fileid + 1, 0
        else:
            if cursor is None:
                fileid, pos = self._active, self._index_len(self._active)
            while fileid >= 0 and len(found) < limit and left:
                while pos > 0 and len(found) < limit and left:
                    tail = self._index_read(fileid, pos - INDEX_TRAILER.size, INDEX_TRAILER.size)
                    (reclen,) = INDEX_TRAILER.unpack(tail)
                    if reclen < INDEX_OVERHEAD or reclen > pos:
                        raise StorageError(f"index of namespace '{self.name}' is damaged")
                    pos -= reclen
                    rec = self._record_at(fileid, pos)
                    left -= 1
                    current = self._is_current(fileid, rec)
                    if current:
                        found.append(
                            EntryInfo(rec[1], rec[3] - DATA_HEADER_SIZE - len(rec[1]), rec[4])
                        )
                    if current or not left:
                        last = _CURSOR.pack(fileid, pos)
                if not left or len(found) >= limit:
                    break
                fileid -= 1
                pos = self._index_len(fileid) if fileid >= 0 else 0
        return found, last

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
        _fsync_path(self._indexdir)
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
        _fsync_path(self._indexdir)

    def save_settings(self) -> None:
        write_json_atomic(self._settings_path, self.settings.to_dict())

    def _close_files(self) -> None:
        self._data.close()
        self._index.close()
        self._sealed.close()

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


__all__ = ["EmbeddedStore", "empty_trash", "move_to_trash", "parse_records"]
