"""The robot's store: every change to a service or a task is one line appended to a journal.

Writers hand their lines to one writer thread, which appends whatever has gathered as one batch
with one flush to the medium (group commit: one fsync for many task changes); a writer that asks
to wait returns once its lines are durable. The journal is a *generation*: a snapshot (the whole
state, as lines) and the batches appended after it. When the batches outgrow the snapshot, the
writer starts the next generation with a fresh snapshot of the state instead of appending
(compaction); the medium makes that switch atomic. Replaying the snapshot and then the batches,
each line replacing what it names, gives the state back after a crash, kill -9 included.

Lines (JSON objects):

- ``{"s": <service>, "h": <sha256 of its secret>}``: a service as it is now;
- ``{"t": <task>}``: a task as it is now (its ``service_guid`` names its service);
- ``{"x": [<service guid>, [<task guid>, ...]]}``: finished tasks no longer kept;
- ``{"d": <service guid>}``: a service deleted, with its task list;
- ``{"l": [<service guid>, [<log line>, ...]]}``: lines its actions logged, added to its log
  (the last :data:`KEEP_LOG` are kept; a snapshot holds those alone).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from ..common.log import event
from .errors import StoreError
from .models import LogLine, Service, Task

log = logging.getLogger("zeroos.robot")
COMPACT_AT = 4 << 20  # journal bytes after which a generation may be compacted
KEEP_LOG = 1000  # log lines kept a service, newest last


class Record(BaseModel):
    """What is kept of one service: itself and its task list (pending and recent tasks)."""

    service: Service
    tasks: list[Task] = Field(default_factory=list)
    secret_hash: str = ""  # sha256 of the service's secret
    logs: list[LogLine] = Field(default_factory=list)  # the last KEEP_LOG its actions logged


class JournalMedium(Protocol):
    """Where a journal's generations live (a folder, a zero-db namespace).

    ``read`` gives the newest complete generation (its number and its chunks: the snapshot,
    then the batches in order) and forgets older ones; ``append`` adds a batch to it, durably
    when it returns; ``begin`` durably makes ``generation`` the current one with ``snapshot``
    as its only content (all or nothing), then forgets the older ones.
    """

    def read(self) -> tuple[int, list[bytes]]: ...

    def append(self, generation: int, batch: bytes) -> None: ...

    def begin(self, generation: int, snapshot: bytes) -> None: ...

    def close(self) -> None: ...


def service_line(service: Service, secret_hash: str) -> bytes:
    """The journal line of a service as it is now."""
    body = service.model_dump_json()
    return b'{"s":' + body.encode() + b',"h":' + json.dumps(secret_hash).encode() + b"}\n"


def task_line(task: Task) -> bytes:
    """The journal line of a task as it is now."""
    return b'{"t":' + task.model_dump_json().encode() + b"}\n"


def drop_line(service_guid: str, task_guids: Sequence[str]) -> bytes:
    """The journal line forgetting finished tasks of a service."""
    return json.dumps({"x": [service_guid, list(task_guids)]}).encode() + b"\n"


def remove_line(service_guid: str) -> bytes:
    """The journal line deleting a service and its task list."""
    return json.dumps({"d": service_guid}).encode() + b"\n"


def log_line(service_guid: str, lines: Sequence[LogLine]) -> bytes:
    """The journal line adding ``lines`` to a service's log."""
    body = b",".join(line.model_dump_json().encode() for line in lines)
    return b'{"l":[' + json.dumps(service_guid).encode() + b",[" + body + b"]]}\n"


class _State:
    """The store's state as the lines that make it: one a service, one a task, and each
    service's last log lines."""

    def __init__(self) -> None:
        self.services: dict[str, bytes] = {}
        self.tasks: dict[str, dict[str, bytes]] = {}
        self.logs: dict[str, deque[Any]] = {}  # a service's log lines, as JSON values

    def apply(self, line: bytes, parsed: dict[str, object] | None = None) -> None:
        item = parsed if parsed is not None else json.loads(line)
        if "s" in item:
            guid = str(item["s"]["guid"])  # type: ignore[index]
            self.services[guid] = line
            self.tasks.setdefault(guid, {})
            self.logs.setdefault(guid, deque(maxlen=KEEP_LOG))
        elif "t" in item:
            task = item["t"]
            owner = self.tasks.get(str(task["service_guid"]))  # type: ignore[index]
            if owner is not None:  # a task of a service deleted since: gone with it
                owner[str(task["guid"])] = line  # type: ignore[index]
        elif "x" in item:
            guid, dropped = item["x"]  # type: ignore[misc]
            owner = self.tasks.get(guid, {})
            for task_guid in dropped:
                owner.pop(task_guid, None)
        elif "l" in item:
            guid, lines = item["l"]  # type: ignore[misc]
            kept = self.logs.get(guid)
            if kept is not None:  # lines of a service deleted since: gone with it
                kept.extend(lines)
        elif "d" in item:
            self.services.pop(str(item["d"]), None)
            self.tasks.pop(str(item["d"]), None)
            self.logs.pop(str(item["d"]), None)
        else:
            raise ValueError(f"unknown journal line {line[:80]!r}")

    def snapshot(self) -> bytes:
        logs = [
            json.dumps({"l": [guid, list(lines)]}).encode() + b"\n"
            for guid, lines in self.logs.items()
            if lines
        ]
        return b"".join(
            [
                *self.services.values(),
                *(t for ts in self.tasks.values() for t in ts.values()),
                *logs,
            ]
        )


class ServiceStore:
    """Services and their task lists in a journal on ``medium``, written by group commit.

    Call :meth:`load` once, first; then :meth:`write` from any thread.
    """

    def __init__(self, medium: JournalMedium, *, compact_at: int = COMPACT_AT) -> None:
        self.medium = medium
        self.compact_at = compact_at
        self._state = _State()
        self._generation = 0
        self._journal_bytes = 0  # appended since the generation's snapshot
        self._snapshot_bytes = 0
        self._pending: list[bytes] = []
        self._queued = 0  # number of the last write queued
        self._committed = 0  # ... and of the last one durable
        self._failure: StoreError | None = None
        self._closing = False
        self._cond = threading.Condition()
        self._writer = threading.Thread(target=self._write_batches, name="robot-journal")
        self._writer.daemon = True
        self.batches = 0  # batches written (group commits), for tests and benchmarks

    @property
    def generation(self) -> int:
        """The journal's generation: how many times it was compacted."""
        with self._cond:
            return self._generation

    def load(self) -> tuple[list[Record], list[str]]:
        """Replay the journal: every service kept, and one line for each entry that cannot be
        read (left out); then start the writer."""
        generation, chunks = self.medium.read()
        errors: list[str] = []
        state = _State()
        for number, chunk in enumerate(chunks):
            for line in chunk.splitlines(keepends=True):
                try:
                    state.apply(line)
                except (ValueError, KeyError, TypeError) as exc:
                    errors.append(f"journal chunk {number}: unreadable line left out: {exc}")
        self._state, self._generation = state, generation
        self._snapshot_bytes = len(chunks[0]) if chunks else 0
        self._journal_bytes = sum(len(c) for c in chunks[1:])
        records: list[Record] = []
        for guid, line in state.services.items():
            try:
                item = json.loads(line)
                tasks = [Task.model_validate_json(t[5:-2]) for t in state.tasks[guid].values()]
                records.append(
                    Record(
                        service=Service.model_validate(item["s"]),
                        tasks=tasks,
                        secret_hash=item["h"],
                        logs=[LogLine.model_validate(x) for x in state.logs[guid]],
                    )
                )
            except (ValueError, KeyError, ValidationError) as exc:
                errors.append(f"service {guid}: unreadable, left aside: {exc}")
        self._writer.start()
        return records, errors

    def write(self, lines: Iterable[bytes], *, wait: bool = True) -> None:
        """Apply and queue ``lines``; with ``wait``, return once they are durable (StoreError
        if the medium failed)."""
        lines = list(lines)
        if not lines:
            return
        with self._cond:
            if self._closing:
                raise StoreError("the robot's store is closed")
            if self._failure is not None:
                raise self._failure
            for line in lines:
                self._state.apply(line)
                self._pending.append(line)
            self._queued += 1
            mine = self._queued
            self._cond.notify_all()
            while wait and self._committed < mine and self._failure is None:
                self._cond.wait()
            if wait and self._failure is not None:
                raise self._failure

    def sync(self) -> None:
        """Return once every write queued so far is durable (StoreError if the medium failed)."""
        with self._cond:
            mine = self._queued
            while self._committed < mine and self._failure is None:
                self._cond.wait()
            if self._failure is not None:
                raise self._failure

    def _write_batches(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                batch = b"".join(self._pending)
                self._pending.clear()
                upto = self._queued
                generation = self._generation
                grown = self._journal_bytes + len(batch)
                snapshot = None
                if grown > self.compact_at and grown > 2 * self._snapshot_bytes:
                    # the state holds every line queued so far: the snapshot replaces the batch
                    snapshot = self._state.snapshot()
                    self._generation = generation = generation + 1
                    self._journal_bytes, self._snapshot_bytes = 0, len(snapshot)
                else:
                    self._journal_bytes = grown
            try:
                if snapshot is not None:
                    self.medium.begin(generation, snapshot)
                    event(log, "journal_compacted", generation=generation, size=len(snapshot))
                else:
                    self.medium.append(generation, batch)
            except StoreError as exc:
                with self._cond:
                    self._failure = exc
                    self._cond.notify_all()
                event(log, "journal_error", level=logging.ERROR, error=str(exc))
                return
            with self._cond:
                self._committed = upto
                self.batches += 1
                self._cond.notify_all()

    def close(self) -> None:
        """Write what is queued, then stop; later writes are refused."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._writer.is_alive():
            self._writer.join(30)
        self.medium.close()
