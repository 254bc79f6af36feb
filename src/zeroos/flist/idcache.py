"""A local map from block keys to block ids, so that a known block need not be sealed again.

A block's id is a function of its key alone (the key is the hash of the plain bytes, and
sealing is deterministic), so ``key -> id`` never goes stale. With it, creating an flist of a
tree whose blocks were seen before costs one hash per block instead of compressing, encrypting
and hashing again; the store is still asked whether it holds each id. A wrong entry (the file
was tampered with) cannot pass wrong content off: reading checks the block against both id and
key, so such a flist fails to read rather than reads wrong bytes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from .errors import FlistError

_BATCH = 500


class IdCache:
    """The sqlite file holding ``key -> id`` pairs; used from one thread at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS ids (key BLOB PRIMARY KEY, id BLOB) WITHOUT ROWID"
            )
        except (sqlite3.Error, OSError) as exc:
            raise FlistError(f"{path}: cannot open the block id cache: {exc}") from exc

    def lookup(self, keys: Iterable[bytes]) -> dict[bytes, bytes]:
        """The ids known for these keys."""
        wanted = list(keys)
        found: dict[bytes, bytes] = {}
        try:
            for i in range(0, len(wanted), _BATCH):
                chunk = wanted[i : i + _BATCH]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT key, id FROM ids WHERE key IN ({marks})"  # noqa: S608 - marks only
                for key, block_id in self._conn.execute(sql, chunk):
                    if len(block_id) == 32:
                        found[bytes(key)] = bytes(block_id)
        except sqlite3.DatabaseError:
            return found  # a damaged cache only costs the sealing it would have saved
        return found

    def add(self, pairs: Iterable[tuple[bytes, bytes]]) -> None:
        try:
            with self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO ids VALUES (?, ?)", list(pairs))
        except sqlite3.DatabaseError:
            pass  # as above: the cache is an optimisation, never a reason to fail

    def close(self) -> None:
        self._conn.close()
