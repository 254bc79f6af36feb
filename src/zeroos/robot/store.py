"""Where the robot keeps its services: a journal in a folder (default) or in zero-db.

:class:`FileJournal` keeps generation ``N`` as ``snapshot-N.jsonl`` (written to a temporary
file, fsynced, renamed, the folder fsynced) and ``journal-N.jsonl`` (batches appended, each
followed by one fsync). A batch torn by a crash is cut off at its last whole line when read:
it was never acknowledged. :func:`open_store` picks the medium from ``--data``.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from .errors import StoreError
from .journal import JournalMedium, Record, ServiceStore

__all__ = ["FileJournal", "Record", "ServiceStore", "open_store", "write_atomic"]
_GENERATION = re.compile(r"^(snapshot|journal)-(\d+)\.jsonl$")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temporary file, fsync, rename, fsync of the folder."""
    tmp = path.with_suffix(".tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)  # the rename itself is durable
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc}") from exc


class FileJournal:
    """A journal's generations as files in ``root`` (the ``journal/`` folder of ``--data``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fd: int | None = None
        self._open_generation = -1
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {root}: {exc}") from exc

    def _path(self, kind: str, generation: int) -> Path:
        return self.root / f"{kind}-{generation}.jsonl"

    def _forget_before(self, generation: int) -> None:
        for path in self.root.iterdir():
            match = _GENERATION.match(path.name)
            if path.suffix == ".tmp" or (match and int(match.group(2)) < generation):
                path.unlink(missing_ok=True)

    def read(self) -> tuple[int, list[bytes]]:
        """The newest generation with a snapshot (0 when none), its torn tail cut off."""
        try:
            found = [_GENERATION.match(p.name) for p in self.root.iterdir()]
            snapshots = [int(m.group(2)) for m in found if m and m.group(1) == "snapshot"]
            generation = max(snapshots, default=0)
            self._forget_before(generation)
            chunks = [b""]
            with contextlib.suppress(FileNotFoundError):
                chunks[0] = self._path("snapshot", generation).read_bytes()
            journal = self._path("journal", generation)
            with contextlib.suppress(FileNotFoundError):
                data = journal.read_bytes()
                whole = data.rfind(b"\n") + 1
                if whole < len(data):  # a batch a crash tore: never acknowledged
                    os.truncate(journal, whole)
                chunks.append(data[:whole])
        except OSError as exc:
            raise StoreError(f"cannot read the journal in {self.root}: {exc}") from exc
        return generation, chunks

    def _journal_fd(self, generation: int) -> int:
        if self._open_generation != generation or self._fd is None:
            self.close()
            path = self._path("journal", generation)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._open_generation = generation
            _fsync_dir(self.root)  # the file's name is durable before anything in it counts
        return self._fd

    def append(self, generation: int, batch: bytes) -> None:
        """Append ``batch`` to generation ``generation``'s journal and fsync it."""
        try:
            fd = self._journal_fd(generation)
            view = memoryview(batch)
            while view:
                view = view[os.write(fd, view) :]
            os.fdatasync(fd)
        except OSError as exc:
            raise StoreError(f"cannot append to the journal in {self.root}: {exc}") from exc

    def begin(self, generation: int, snapshot: bytes) -> None:
        """Write generation ``generation``'s snapshot atomically; then drop the older ones."""
        write_atomic(self._path("snapshot", generation), snapshot)
        self.close()
        try:
            self._forget_before(generation)
        except OSError as exc:
            raise StoreError(f"cannot drop old journals in {self.root}: {exc}") from exc

    def close(self) -> None:
        """Close the open journal file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def open_store(data: str, local: Path) -> ServiceStore:
    """The store ``--data`` names: ``zdb://[:password@]host:port/namespace`` or a folder
    (``local``, the folder itself then, holds the journal under ``journal/``)."""
    medium: JournalMedium
    if data.startswith("zdb://"):
        from .zdbstore import ZdbJournal  # only a robot kept in zero-db loads its client

        medium = ZdbJournal.from_url(data)
    else:
        medium = FileJournal(local / "journal")
    return ServiceStore(medium)
