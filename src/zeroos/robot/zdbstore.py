"""The robot's journal in a zero-db namespace (``--data zdb://[:password@]host:port/ns``).

Generation ``N`` is the snapshot's chunks ``s:N:0``, ``s:N:1``... and the batches ``j:N:0``,
``j:N:1``... (one SET each: zero-db applies a SET whole or not at all). The key ``head`` names
the current generation and how many snapshot chunks it has; writing it is the atomic switch to
a new generation, after which the older generation's keys are deleted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..zdb import Client, ZdbError
from .errors import StoreError

CHUNK = 4 << 20  # bytes of one value: below zero-db's 8 MiB limit
HEAD = b"head"
_READ_AHEAD = 64


class ZdbJournal:
    """A journal's generations as keys of one zero-db namespace (user mode)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._next = 0  # number of the next batch key of the current generation
        self._head: dict[str, int] = {"generation": 0, "chunks": 0}

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> ZdbJournal:
        """The journal in the namespace of ``zdb://...``; StoreError for a URL it cannot use."""
        try:
            return cls(Client.from_url(url, **kwargs))
        except ValueError as exc:
            raise StoreError(f"--data {url}: {exc}") from exc

    def _where(self) -> str:
        return f"zero-db {self.client.address} namespace {self.client.namespace}"

    def _keys(self, kind: str, generation: int) -> Iterator[list[bytes]]:
        """Consecutive keys ``kind:generation:i`` from 0, read ahead in groups, until a gap."""
        start = 0
        while True:
            keys = [f"{kind}:{generation}:{i}".encode() for i in range(start, start + _READ_AHEAD)]
            values = self.client.mget(keys)
            present = []
            for value in values:
                if value is None:
                    break
                present.append(value)
            yield present
            if len(present) < len(keys):
                return
            start += len(keys)

    def read(self) -> tuple[int, list[bytes]]:
        """The generation ``head`` names: its snapshot (one chunk) and its batches."""
        try:
            raw = self.client.get(HEAD)
            self._head = json.loads(raw) if raw else {"generation": 0, "chunks": 0}
            generation = int(self._head["generation"])
            parts = [self.client.get(f"s:{generation}:{i}") for i in range(self._head["chunks"])]
            if any(p is None for p in parts):
                raise StoreError(f"{self._where()}: a snapshot chunk of the journal is missing")
            batches = [b for group in self._keys("j", generation) for b in group]
            self._drop(generation + 1)  # a compaction a crash cut before its head was written
        except ZdbError as exc:
            raise StoreError(f"{self._where()}: cannot read the journal: {exc}") from exc
        except ValueError as exc:
            raise StoreError(f"{self._where()}: the journal's head is unreadable: {exc}") from exc
        self._next = len(batches)
        return generation, [b"".join(p for p in parts if p is not None), *batches]

    def append(self, generation: int, batch: bytes) -> None:
        """SET the next batch key (batches above a chunk's size take several keys)."""
        try:
            for start in range(0, len(batch), CHUNK):
                self.client.set(f"j:{generation}:{self._next}", batch[start : start + CHUNK])
                self._next += 1
        except ZdbError as exc:
            raise StoreError(f"{self._where()}: cannot append to the journal: {exc}") from exc

    def begin(self, generation: int, snapshot: bytes) -> None:
        """Write the snapshot's chunks, switch ``head`` to them, delete the old generation."""
        try:
            self._drop(generation)  # leftovers of an attempt a crash interrupted
            chunks = [snapshot[i : i + CHUNK] for i in range(0, len(snapshot), CHUNK)]
            for i, chunk in enumerate(chunks):
                self.client.set(f"s:{generation}:{i}", chunk)
            old = self._head
            self._head = {"generation": generation, "chunks": len(chunks)}
            self.client.set(HEAD, json.dumps(self._head).encode())
            self._next = 0
            self._drop(int(old["generation"]), int(old["chunks"]))
        except ZdbError as exc:
            raise StoreError(f"{self._where()}: cannot compact the journal: {exc}") from exc

    def _drop(self, generation: int, chunks: int | None = None) -> None:
        """Delete generation ``generation``'s batch and snapshot keys."""
        done = 0
        for group in self._keys("j", generation):
            for _ in group:
                self.client.delete(f"j:{generation}:{done}")
                done += 1
        i = 0
        while (chunks is not None and i < chunks) or (
            chunks is None and self.client.exists(f"s:{generation}:{i}")
        ):
            self.client.delete(f"s:{generation}:{i}")
            i += 1

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()
