"""Move namespaces between engines (embedded folders <-> Tarantool), chain included.

The current value of every live key is copied with its timestamp, in write order; older
versions (HISTORY) stay behind, as after `zos zdb compact`. The chain is copied byte for byte
and gets one COMPACT leaf recording that history was dropped here, so its earlier heads and
proofs stay valid and `zos zdb verify` checks it on the other side.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .chain.signing import Identity
from .embedded import EmbeddedEngine
from .engine import Engine, Store
from .errors import StorageError
from .tarantool.engine import TarantoolEngine

_URL = re.compile(r"^tarantool://([^/]+)(?:/(.*))?$")  # a password holds no "/" (token_urlsafe)


@dataclass(frozen=True)
class Location:
    """Where namespaces live: an embedded data/index folder pair, or a Tarantool database."""

    tarantool: str | None = field(default=None, repr=False)  # [user:pw@]HOST:PORT[,...]
    db: str = ""
    datadir: str = ""
    indexdir: str = ""
    password_file: str | None = None
    password: str | None = field(default=None, repr=False)  # when neither of the above has it

    @classmethod
    def parse(
        cls, text: str, password_file: str | None = None, password: str | None = None
    ) -> Location:
        match = _URL.match(text)
        if match:
            return cls(
                match.group(1),
                match.group(2) or "",
                password_file=password_file,
                password=password,
            )
        if text.startswith("tarantool:"):
            # not the text itself: it may hold a password
            raise StorageError("invalid location: expected tarantool://[user:pw@]HOST:PORT[/db]")
        return cls(datadir=os.path.join(text, "data"), indexdir=os.path.join(text, "index"))

    def open(self, keydir: str, chain: bool = True) -> Engine:
        if self.tarantool is not None:
            return TarantoolEngine(
                self.tarantool,
                self.db,
                keydir=keydir,
                chain=chain,
                password_file=self.password_file,
                password=self.password,
            )
        return EmbeddedEngine(self.datadir, self.indexdir, chain=chain)


def _live(store: Store) -> list[tuple[bytes, bytes, int]]:
    out: list[tuple[bytes, bytes, int]] = []
    cursor: bytes | None = None
    while True:
        batch, cursor = store.scan(cursor, 1000)
        if not batch:
            return out
        for entry in batch:
            value = store.get(entry.key)
            if value is not None:
                out.append((entry.key, value, entry.timestamp_us))


def migrate(
    source: Location,
    target: Location,
    names: list[str] | None = None,
    keydir: str | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> list[tuple[str, int]]:
    """Copy namespaces from source to target; returns (namespace, keys copied)."""
    keydir = keydir or source.indexdir or target.indexdir or "zdb-index"
    identity = Identity.load_or_create(keydir)
    src = source.open(keydir)
    done: list[tuple[str, int]] = []
    try:
        targets = names or src.namespaces()
        for name in targets:
            store = src.open(name)
            if store is None:
                raise StorageError(f"namespace '{name}' not found at the source")
            live = _live(store)
            files = None if store.chain is None else store.chain.export()
            _write(target, name, store, live, files, identity, keydir)
            done.append((name, len(live)))
            if progress is not None:
                progress(name, len(live))
    finally:
        src.close()
    return done


def _write(
    target: Location,
    name: str,
    source: Store,
    live: list[tuple[bytes, bytes, int]],
    files: list[bytes] | None,
    identity: Identity,
    keydir: str,
) -> None:
    engine = target.open(keydir, chain=False)
    try:
        if engine.open(name) is not None:
            raise StorageError(f"namespace '{name}' already exists at the target")
        store = engine.create(name, source.settings)
        for key, value, ts in live:
            store.put(key, value, ts)
        engine.flush()
        if files is not None:
            engine.restore_chain(store, files, identity, b"%d" % len(live))
    finally:
        engine.close()


__all__ = ["Location", "migrate"]
