"""Archives the hub converted before, by digest: the same .tar.gz uploaded again is not
unpacked again.

An upload's bytes are hashed (blake2b) as they are read. Once a conversion succeeds, the
flist it made is kept under the archive's digest (:class:`Archives`), with the digest of its
first :data:`HEAD` bytes, which is known a moment after the upload starts. An upload whose
first bytes match a kept archive's is kept on disk while it arrives instead of being
converted (:class:`Arrival` tells); if the whole digest then matches too and every block of
the kept flist is still in the hub's store, a copy of that flist is the new one. Otherwise
it is converted from disk, as any other upload.

    root/<head>-<digest>.fl     the flist made from the archive (routes: the hub's store)
    root/<head>-<digest>.json   what its conversion counted (files, bytes)
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from contextlib import suppress
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ValidationError

HEAD = 1 << 20  # bytes of an upload read before choosing to convert it or keep it on disk
KEEP = 200  # archives remembered; the least recently used are forgotten first
_CHUNK = 1 << 20


class Counts(BaseModel):
    """What converting an archive counted, told again when its flist is reused."""

    files: int
    bytes: int


class Kept(BaseModel):
    """An archive converted before: its flist and counts."""

    digest: str
    flist: Path
    counts: Counts


class Arrival:
    """An upload read once from ``stream``, hashed as it is read; its first :data:`HEAD`
    bytes can be looked at (:meth:`head`) before anyone reads it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._hash = hashlib.blake2b(digest_size=32)
        self._held = memoryview(b"")
        self._head: str | None = None
        self.size = 0

    def _pull(self, size: int) -> bytes:
        data = self._stream.read(size)
        self._hash.update(data)
        self.size += len(data)
        return data

    def head(self) -> str:
        """The digest of the first :data:`HEAD` bytes (all of them when fewer), read now."""
        if self._head is None:
            parts, got = [], 0
            while got < HEAD and (data := self._pull(HEAD - got)):
                parts.append(data)
                got += len(data)
            held = b"".join(parts)
            self._head = hashlib.blake2b(held, digest_size=16).hexdigest()
            self._held = memoryview(held)
        return self._head

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (the rest when negative); b"" at the end."""
        if size < 0:
            parts = [bytes(self._held)]
            self._held = memoryview(b"")
            while data := self._pull(_CHUNK):
                parts.append(data)
            return b"".join(parts)
        if self._held:
            taken, self._held = self._held[:size], self._held[size:]
            return bytes(taken)
        return self._pull(size)

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        """Read what the reader left (an archive's padding after its end): the digest is of
        every byte of the upload."""
        while self.read(_CHUNK):
            pass

    def digest(self) -> str:
        """The blake2b of every byte read; call once the upload is read to its end."""
        return self._hash.hexdigest()


class Archives:
    """Flists made from archives, kept under the archives' digests in folder ``root``."""

    def __init__(self, root: str | Path, keep: int = KEEP) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep = keep

    def known_head(self, head: str) -> bool:
        """Whether an archive beginning like this one (same :meth:`Arrival.head`) is kept."""
        return any(self.root.glob(f"{head}-*.json"))

    def get(self, digest: str) -> Kept | None:
        """The archive ``digest`` converted before, or None."""
        for meta in self.root.glob(f"*-{digest}.json"):
            flist = meta.with_suffix(".fl")
            try:
                counts = Counts.model_validate_json(meta.read_bytes())
                os.utime(meta)  # recently used: kept longer
            except (OSError, ValidationError):
                continue
            if flist.is_file():
                return Kept(digest=digest, flist=flist, counts=counts)
        return None

    def remember(self, head: str, digest: str, flist: Path, counts: Counts) -> None:
        """Keep a copy of ``flist``, made from the archive ``digest`` (first bytes ``head``)."""
        base = self.root / f"{head}-{digest}"
        tmp = self.root / f".{secrets.token_hex(8)}"
        try:
            shutil.copyfile(flist, tmp.with_suffix(".fl"))
            tmp.with_suffix(".json").write_text(counts.model_dump_json())
            # the flist first: a record whose counts are there has its flist
            os.replace(tmp.with_suffix(".fl"), base.with_suffix(".fl"))
            os.replace(tmp.with_suffix(".json"), base.with_suffix(".json"))
        finally:
            tmp.with_suffix(".fl").unlink(missing_ok=True)
            tmp.with_suffix(".json").unlink(missing_ok=True)
        self._trim()

    def forget(self, digest: str) -> None:
        """Drop the archive ``digest`` (its flist names blocks the store lost)."""
        for meta in self.root.glob(f"*-{digest}.json"):
            meta.unlink(missing_ok=True)  # the counts first: without them it is not found
            meta.with_suffix(".fl").unlink(missing_ok=True)

    def _trim(self) -> None:
        kept = []
        for meta in self.root.glob("*-*.json"):
            with suppress(FileNotFoundError):
                kept.append((meta.stat().st_mtime_ns, meta))
        kept.sort()
        for _, meta in kept[: max(0, len(kept) - self.keep)]:
            self.forget(meta.stem.partition("-")[2])
