"""Offline compaction: rewrite a namespace with only its current values.

The new files are built beside the old ones and swapped in with renames, so a crash at any
point leaves either the old namespace or the new one, never a mix: an unfinished build is
thrown away on the next start, a finished one (marked COMPLETE) is swapped in.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass

from ..files import AppendFile
from .format import FLAG_DELETED, NO_PREV, data_name, encode_entry, encode_record, index_name
from .recovery import CUT_PREFIX

BUILD = "~compact"
OLD = "~old"
COMPLETE = "COMPLETE"


@dataclass(frozen=True, slots=True)
class CompactionResult:
    """What compaction of one namespace did."""

    namespace: str
    entries: int
    bytes_before: int
    bytes_after: int


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap(datadir: str, indexdir: str, name: str) -> None:
    for root in (datadir, indexdir):
        live, build, old = (os.path.join(root, name + s) for s in ("", BUILD, OLD))
        if os.path.isdir(build):
            if os.path.isdir(live):
                os.replace(live, old)
            os.replace(build, live)
            _fsync_dir(root)
    marker = os.path.join(indexdir, name, COMPLETE)
    if os.path.exists(marker):
        os.unlink(marker)
    for root in (datadir, indexdir):
        shutil.rmtree(os.path.join(root, name + OLD), ignore_errors=True)


def finish_compactions(datadir: str, indexdir: str) -> None:
    """Complete or discard compactions a crash interrupted (run before opening namespaces)."""
    for entry in os.listdir(indexdir):
        if entry.endswith(BUILD):
            name = entry[: -len(BUILD)]
            if os.path.exists(os.path.join(indexdir, entry, COMPLETE)):
                _swap(datadir, indexdir, name)
            else:
                shutil.rmtree(os.path.join(indexdir, entry), ignore_errors=True)
                shutil.rmtree(os.path.join(datadir, entry), ignore_errors=True)
    for entry in os.listdir(datadir):
        # a data build whose index build is gone: the crash came before the index build
        # was made (the index build goes last and is swapped last)
        if entry.endswith(BUILD) and not os.path.exists(os.path.join(indexdir, entry)):
            shutil.rmtree(os.path.join(datadir, entry), ignore_errors=True)
    for entry in os.listdir(indexdir):
        # swapped in, but the crash came before the marker was removed
        marker = os.path.join(indexdir, entry, COMPLETE)
        if not entry.endswith(BUILD) and os.path.isfile(marker):
            os.unlink(marker)
    for root in (datadir, indexdir):
        for entry in os.listdir(root):
            if entry.endswith(OLD) and os.path.isdir(os.path.join(root, entry[: -len(OLD)])):
                shutil.rmtree(os.path.join(root, entry), ignore_errors=True)


def compact_namespace(
    engine: object,
    name: str,
    progress: Callable[[int], None] | None = None,
) -> CompactionResult:
    """Rewrite one namespace of an open (locked) EmbeddedEngine; history is dropped."""
    from .engine import EmbeddedEngine

    if not isinstance(engine, EmbeddedEngine):
        raise TypeError("compaction works on the embedded engine")
    store = engine.open(name)
    if store is None:
        raise ValueError(f"namespace '{name}' not found")
    engine.flush()
    before = store.disk_size
    data_build = os.path.join(engine.datadir, name + BUILD)
    index_build = os.path.join(engine.indexdir, name + BUILD)
    for folder in (data_build, index_build):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    fileid = 0
    data = AppendFile(os.path.join(data_build, data_name(0)))
    index = AppendFile(os.path.join(index_build, index_name(0)))
    entries = 0
    written = 0  # data entries in the new files (entries, plus a seq tombstone)
    cursor: bytes | None = None
    built = False
    try:
        while True:
            batch, cursor = store.scan(cursor, 1000)
            if not batch:
                break
            for info in batch:
                value = store.get(info.key)
                if value is None:  # pragma: no cover - scan only returns live keys
                    continue
                entry = encode_entry(0, info.key, value, info.timestamp_us, NO_PREV)
                if data.size and data.size + len(entry) > engine.datasize:
                    data.sync()
                    index.sync()
                    data.close()
                    index.close()
                    fileid += 1
                    data = AppendFile(os.path.join(data_build, data_name(fileid)))
                    index = AppendFile(os.path.join(index_build, index_name(fileid)))
                offset = data.append(entry)
                index.append(encode_record(0, info.key, offset, len(entry), info.timestamp_us))
                entries += 1
                written += 1
            if progress is not None:
                progress(len(batch))
            if cursor is None:
                break
        if store.settings.mode == "seq" and store.next_id > 0:
            # the ids of deleted entries are never given out again: their tombstones go,
            # so keep one for the highest id (loading counts it, nothing else sees it)
            top = (store.next_id - 1).to_bytes(8, "little")
            if not store.contains(top):
                entry = encode_entry(FLAG_DELETED, top, b"", 0, NO_PREV)
                offset = data.append(entry)
                index.append(encode_record(FLAG_DELETED, top, offset, len(entry), 0))
                written += 1
        data.sync()
        index.sync()
        built = True
    finally:
        data.close()
        index.close()
        if not built:  # a failed build (a corrupt entry, a full disk) is thrown away now
            for folder in (data_build, index_build):
                shutil.rmtree(folder, ignore_errors=True)
    after = sum(os.path.getsize(os.path.join(data_build, f)) for f in os.listdir(data_build))
    store.save_settings()
    if store.chain is not None:
        # the log goes with the namespace; it records that history was dropped here
        from ..chain.leaf import OP_COMPACT
        from ..chain.log import ChainLog

        store.chain.copy_to(index_build)
        if engine.identity is not None:
            log = ChainLog(index_build, name, engine.identity)
            log.event(OP_COMPACT, b"", extra=b"%d" % written)
            log.close()
    shutil.copy2(
        os.path.join(engine.indexdir, name, "zdb-namespace.json"),
        os.path.join(index_build, "zdb-namespace.json"),
    )
    live_data = os.path.join(engine.datadir, name)
    for kept in os.listdir(live_data):
        if kept.startswith(CUT_PREFIX):
            # bytes recovery cut from a torn tail are kept for a person to look at: they
            # move with the namespace (a link: a crash before the swap keeps them in place)
            os.link(os.path.join(live_data, kept), os.path.join(data_build, kept))
    for folder in (data_build, index_build):
        _fsync_dir(folder)
    engine.forget(name)
    marker = os.path.join(index_build, COMPLETE)
    with open(marker, "w") as fh:
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(index_build)
    _swap(engine.datadir, engine.indexdir, name)
    return CompactionResult(name, entries, before, after)
