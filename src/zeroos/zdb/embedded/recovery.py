"""Recovery of a data and index file pair on open: what a crash tore is cut, nothing else.

Entries are appended data first, index record second, to memory maps (files.py); a kill -9
leaves at most the last data entry half copied and without its record, a power cut without
``--sync`` can also leave the newest pages unwritten (they read as zeros). So:

* index records are trusted up to the first damaged one; the records after it are rebuilt
  from the data;
* walking back from the last record, a record whose entry never reached the disk (its header
  does not match, or it ends in zeros with only zeros after it) is dropped; a record whose
  entry is whole but fails its CRC is damage done after the write: it is kept (CHECK answers
  0, GET fails) and logged;
* the data past the last record is scanned entry by entry: a damaged entry followed by a
  whole one is skipped (and keeps its key when its header holds, so it reads as damaged;
  otherwise a tombstone of the empty key keeps its place), scanning resumes at the next
  whole entry;
* only a damaged stretch that runs to the end of the file is cut, and its bytes (zeros
  excepted) are kept aside in the namespace's data folder as ``cut-<file>-<offset>-<time>``,
  logged and counted (NSINFO's stats_data_cuts).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import BinaryIO

from ..engine import Faults
from .codec import scan_entries
from .format import (
    DATA_HEADER,
    DATA_HEADER_SIZE,
    FLAG_DELETED,
    INDEX_HEADER,
    INDEX_HEADER_SIZE,
    INDEX_TRAILER,
    data_name,
    encode_record,
    entry_valid,
)

log = logging.getLogger("zeroos.zdb")

CUT_PREFIX = "cut-"


@dataclass(slots=True)
class Recovered:
    """What recovery made of a file pair."""

    index_end: int  # the index file is cut here ...
    data_end: int  # ... the data file here
    rebuilt: bytes = b""  # ... and these index records are appended
    cuts: list[str] = field(default_factory=list)  # files the cut bytes were kept in


def _show(key: bytes | None) -> str:
    return "?" if key is None else repr(key[:64])


def _header_key(raw: bytes, length: int) -> bytes | None:
    """The key of a damaged entry whose header still agrees with its length, else None."""
    if len(raw) < DATA_HEADER_SIZE:
        return None
    keylen = raw[5]
    if DATA_HEADER_SIZE + keylen + int.from_bytes(raw[6:10], "little") != length:
        return None
    return raw[DATA_HEADER_SIZE : DATA_HEADER_SIZE + keylen]


def _never_written(fh: BinaryIO, raw: bytes, key: bytes, entrylen: int) -> bool:
    """Whether a failing entry with an index record is torn (the disk never got all of it).

    Its header differs from its record, or it ends in a zero byte with only zeros after it
    in the file: the pages a power cut did not write read as zeros. Anything else was whole
    once and is damaged.
    """
    keylen = len(key)
    if (
        len(raw) != entrylen
        or raw[5] != keylen
        or int.from_bytes(raw[6:10], "little") != entrylen - DATA_HEADER_SIZE - keylen
        or raw[DATA_HEADER_SIZE : DATA_HEADER_SIZE + keylen] != key
    ):
        return True
    if raw[-1] != 0:
        return False
    rest = fh.read()
    return rest.count(0) == len(rest)


def _keep_cut(datadir: str, fileid: int, offset: int, data: bytes) -> str:
    """Write cut bytes to a file of their own, durably, before the data file is cut."""
    path = os.path.join(datadir, f"{CUT_PREFIX}{fileid:05d}-{offset}-{int(time.time())}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb", closefd=False) as fh:  # writes it all, or raises
            fh.write(data)
        os.fsync(fd)
    except OSError:
        # no room (say): nothing is cut then, the namespace does not open and says why
        os.unlink(path)
        raise
    finally:
        os.close(fd)
    dirfd = os.open(datadir, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)
    return path


def recover_pair(
    name: str, datadir: str, fileid: int, index: bytes, index_end: int, faults: Faults
) -> Recovered:
    """Check the data file ``fileid`` against its index (valid up to ``index_end``)."""
    dpath = os.path.join(datadir, data_name(fileid))
    try:
        fh = open(dpath, "rb")  # noqa: SIM115 - closed below, after the tail is read
    except FileNotFoundError:
        return Recovered(0, 0)
    torn_keys: list[bytes] = []  # keys of the records dropped, newest first
    with fh:
        datalen = os.fstat(fh.fileno()).st_size
        data_end = 0
        while index_end > 0:
            (reclen,) = INDEX_TRAILER.unpack_from(index, index_end - INDEX_TRAILER.size)
            pos = index_end - reclen
            _crc, _flags, _keylen, offset, entrylen, _ts = INDEX_HEADER.unpack_from(index, pos)
            key = index[pos + INDEX_HEADER_SIZE : index_end - INDEX_TRAILER.size]
            if offset + entrylen <= datalen:
                fh.seek(offset)
                raw = fh.read(entrylen)
                if entry_valid(raw):
                    data_end = offset + entrylen
                    break
                if not _never_written(fh, raw, key, entrylen):
                    faults.data_faults += 1
                    log.warning(
                        "event=damaged_entry namespace=%s file=%s offset=%d bytes=%d key=%s",
                        name,
                        data_name(fileid),
                        offset,
                        entrylen,
                        _show(key),
                    )
                    data_end = offset + entrylen
                    break
            faults.index_faults += 1
            torn_keys.append(key)
            index_end = pos
        fh.seek(data_end)
        tail = fh.read()
    result = Recovered(index_end, data_end)
    rebuilt = bytearray()
    segments = scan_entries(tail, 0)
    whole_end = 0
    for offset, length, whole in segments:
        if whole:
            whole_end = offset + length
    for offset, length, whole in segments:
        if offset >= whole_end:
            break
        raw = tail[offset : offset + length]
        found: bytes | None = raw[DATA_HEADER_SIZE : DATA_HEADER_SIZE + raw[5]]
        if not whole:
            # damaged, yet whole entries follow it: not torn by a crash; skipped, named, and
            # kept under its key when its header holds (CHECK then answers 0, GET fails)
            faults.data_faults += 1
            found = _header_key(raw, length)
            log.warning(
                "event=damaged_entry namespace=%s file=%s offset=%d bytes=%d key=%s",
                name,
                data_name(fileid),
                data_end + offset,
                length,
                _show(found),
            )
        if found is None:
            # no key to keep it under: a tombstone of the empty key (which no client can
            # write) holds its place, so the index stays one record per entry, in step
            # with the chain's leaves
            rebuilt += encode_record(FLAG_DELETED, b"", data_end + offset, length, 0)
        else:
            _crc, flags, _keylen, _vallen, ts, _prev = DATA_HEADER.unpack_from(raw, 0)
            rebuilt += encode_record(flags, found, data_end + offset, length, ts)
        faults.index_faults += 1
    result.rebuilt = bytes(rebuilt)
    result.data_end = data_end + whole_end
    # the torn tail: what is not zeros (space reserved ahead, files.py) is kept aside; records
    # whose entries never reached the disk (all zeros) are a cut too, with nothing to keep
    content = max(0, len(tail.rstrip(b"\0")) - whole_end)
    if content or torn_keys:
        cut = tail[whole_end : whole_end + content]
        cut_key = torn_keys[-1] if torn_keys else None
        if not torn_keys and DATA_HEADER_SIZE <= len(cut) >= DATA_HEADER_SIZE + cut[5]:
            cut_key = cut[DATA_HEADER_SIZE : DATA_HEADER_SIZE + cut[5]]
        kept = "-"
        if content:
            path = _keep_cut(datadir, fileid, result.data_end, cut)
            result.cuts.append(path)
            kept = os.path.basename(path)
        faults.cuts += 1
        faults.cut_bytes += content
        log.warning(
            "event=data_cut namespace=%s file=%s offset=%d bytes=%d key=%s records=%d kept=%s",
            name,
            data_name(fileid),
            result.data_end,
            content,
            _show(cut_key),
            len(torn_keys),
            kept,
        )
    return result


__all__ = ["CUT_PREFIX", "Recovered", "recover_pair"]
