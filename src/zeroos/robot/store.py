"""Services and their task lists on disk: one JSON file a service, replaced atomically.

A write goes to a temporary file, is fsynced, then renamed over the old one (and the folder
fsynced): after a crash, kill -9 included, each file is the old or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from .errors import StoreError
from .models import Service, Task


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temporary file, fsync, rename, fsync of the folder."""
    tmp = path.with_suffix(".tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)  # the rename itself is durable
        finally:
            os.close(fd)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc}") from exc


class Record(BaseModel):
    """What is kept of one service: itself and its task list (pending and recent tasks)."""

    service: Service
    tasks: list[Task] = Field(default_factory=list)
    secret_hash: str = ""  # sha256 of the service's secret


class ServiceStore:
    """The ``services/`` folder under the robot's data folder."""

    def __init__(self, root: Path) -> None:
        self.root = root / "services"
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, guid: str) -> Path:
        return self.root / f"{guid}.json"

    def save(self, record: Record) -> None:
        """Replace the service's file with ``record``, durably."""
        data = record.model_dump_json().encode()
        write_atomic(self._path(record.service.guid), data)

    def remove(self, guid: str) -> None:
        """Forget a service."""
        with contextlib.suppress(FileNotFoundError):
            self._path(guid).unlink()

    def load(self) -> tuple[list[Record], list[str]]:
        """Every service kept, and one line for each file that cannot be read (left in place)."""
        records: list[Record] = []
        errors: list[str] = []
        for path in sorted(self.root.glob("*.json")):
            try:
                records.append(Record.model_validate(json.loads(path.read_bytes())))
            except (OSError, ValueError, ValidationError) as exc:
                errors.append(f"{path}: unreadable, left aside: {exc}")
        for tmp in self.root.glob("*.tmp"):  # a write a crash interrupted: the old file stands
            tmp.unlink(missing_ok=True)
        return records, errors
