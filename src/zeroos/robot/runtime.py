"""One service at run time: its template instance, its task list and its recent log lines.

Tasks run one at a time per service, lowest priority value first (system < recurring < normal),
then in the order they were scheduled; the robot's :class:`~zeroos.robot.pool.WorkerPool` runs
them. Every change of a task is one journal line: a task is durable before ``schedule`` returns,
and marked running durably before its action starts (after a crash it is never run twice).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any

from pydantic_core import to_jsonable_python

from .errors import BadRequest, StoreError
from .journal import KEEP_LOG, Record, ServiceStore, drop_line, log_line, service_line, task_line
from .models import LogLine, Priority, Service, Task, TaskFailure, TaskState
from .template import TemplateBase

KEEP_FINISHED = 200  # finished tasks kept in a task list, newest last
_seq = itertools.count()


class ServiceLog(logging.Handler):
    """The last log lines of one service's actions (its template's ``self.logger``), and those
    not yet in the store."""

    def __init__(self, kept: Sequence[LogLine] = ()) -> None:
        super().__init__(logging.DEBUG)
        self.lines: deque[LogLine] = deque(kept, maxlen=KEEP_LOG)
        self._unsaved: list[LogLine] = []
        self.task: str | None = None  # the task running, if any

    def emit(self, record: logging.LogRecord) -> None:  # logging holds self.lock here
        line = LogLine(
            time=record.created,
            level=record.levelname.lower(),
            task=self.task,
            message=record.getMessage(),
        )
        self.lines.append(line)
        self._unsaved.append(line)
        del self._unsaved[:-KEEP_LOG]  # never more than the store keeps

    def take_unsaved(self) -> list[LogLine]:
        """The lines logged since the last call (the caller stores them)."""
        self.acquire()
        try:
            taken, self._unsaved = self._unsaved, []
        finally:
            self.release()
        return taken


class ServiceRuntime:
    """A service, its template instance and its task list, journaled in ``store``."""

    def __init__(
        self,
        service: Service,
        instance: TemplateBase,
        tasks: list[Task],
        store: ServiceStore,
        timeout: float,
        secret_hash: str,
        logs: Sequence[LogLine] = (),
    ) -> None:
        self.service = service
        self.secret_hash = secret_hash
        self.instance = instance
        self.tasks: dict[str, Task] = {t.guid: t for t in tasks}
        self.store = store
        self.timeout = instance.timeout or timeout
        self.lock = threading.Condition()
        self._queue: list[tuple[int, int, str]] = []
        self.stopping = False
        self.running: Task | None = None
        self.claimed = False  # queued in or held by the worker pool (the pool's lock guards it)
        self.next_due: dict[str, float] = {}
        self._saved_line = service_line(service, secret_hash)
        self._next_class: type[TemplateBase] | None = None
        self.log = ServiceLog(logs)
        instance.logger.addHandler(self.log)
        for task in tasks:
            if task.state is TaskState.new:
                heapq.heappush(self._queue, (int(task.priority), next(_seq), task.guid))

    def record(self) -> Record:
        """The service and its task list as they are kept."""
        with self.lock:
            return Record(
                service=self.service, tasks=list(self.tasks.values()), secret_hash=self.secret_hash
            )

    def journal_lines(self) -> list[bytes]:
        """Lines that write this service and its whole task list."""
        with self.lock:
            return [self._saved_line, *(task_line(t) for t in self.tasks.values())]

    def new_task(
        self, action: str, args: dict[str, Any], priority: Priority = Priority.normal
    ) -> Task:
        """A task of ``action(**args)``, not yet scheduled; BadRequest for an action the
        template lacks."""
        if action not in type(self.instance).actions():
            raise BadRequest(
                f"template {self.service.template} has no action {action!r} "
                f"(it has: {', '.join(type(self.instance).actions()) or 'none'})"
            )
        return Task(
            guid=str(uuid.uuid4()),
            service_guid=self.service.guid,
            action_name=action,
            args=args,
            priority=priority,
            created=time.time(),
        )

    def enqueue(self, tasks: Sequence[Task]) -> None:
        """Add tasks already journaled to the task list."""
        with self.lock:
            for task in tasks:
                self.tasks[task.guid] = task
                heapq.heappush(self._queue, (int(task.priority), next(_seq), task.guid))

    def has_work(self) -> bool:
        """Whether a task waits and the service is not stopped."""
        with self.lock:
            return bool(self._queue) and not self.stopping

    def pending(self, action: str) -> bool:
        """Whether a task of ``action`` waits or runs."""
        with self.lock:
            return any(
                t.action_name == action and t.state in (TaskState.new, TaskState.running)
                for t in self.tasks.values()
            )

    def replace_class(self, cls: type[TemplateBase]) -> None:
        """Run later tasks with ``cls`` (a template updated): swapped in before the next task."""
        with self.lock:
            self._next_class = cls

    def take(self) -> Task | None:
        """The next task, marked running (durably) — None when there is none or it stops."""
        with self.lock:
            if not self._queue or self.stopping:
                return None
            if self._next_class is not None:
                old, cls, self._next_class = self.instance, self._next_class, None
                self.instance = cls(old.guid, old.name, old.data, old.state, old.api)
                self.instance.logger.addHandler(self.log)
                self.timeout = cls.timeout or self.timeout
            _, _, guid = heapq.heappop(self._queue)
            task = self.tasks[guid]
            task.state, task.started = TaskState.running, time.time()
            self.running = task
            line = task_line(task)
        self.store.write([line])  # a crash from here on leaves it "running": interrupted
        return task

    def run(self, task: Task) -> Any:
        """Run the task's action here: its result (JSON-able), or a TaskFailure."""
        self.log.task = task.guid
        try:
            result = getattr(self.instance, task.action_name)(**task.args)
            return to_jsonable_python(result, fallback=repr)
        except BaseException as exc:  # an action may raise anything; it fails its task only
            return TaskFailure(
                message=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()
            )

    def finish(self, task: Task, outcome: Any) -> None:
        """Record what became of ``task`` (journaled without waiting: the next change of this
        service, or of any other, is written after it)."""
        with self.lock:
            if task.state is not TaskState.running:
                return  # finished already: timed out
            task.finished = time.time()
            if isinstance(outcome, TaskFailure):
                task.state, task.error = TaskState.error, outcome
            else:
                task.state, task.result = TaskState.ok, outcome
            self.running = None
            self.log.task = None
            lines = [task_line(task)]
            data = self.instance.data.model_dump(mode="json")
            state = self.instance.state.entries()
            if data != self.service.data or state != self.service.state:
                self.service.data, self.service.state = data, state
                self._saved_line = service_line(self.service, self.secret_hash)
                lines.append(self._saved_line)
            dropped = self._trim()
            if dropped:
                lines.append(drop_line(self.service.guid, dropped))
            logged = self.log.take_unsaved()  # an action's lines are kept with its outcome
            if logged:
                lines.append(log_line(self.service.guid, logged))
            self.lock.notify_all()
        with contextlib.suppress(StoreError):  # closing: "running" on disk, i.e. interrupted
            self.store.write(lines, wait=False)

    def stop(self, timeout: float = 5.0) -> None:
        """Take no more tasks; wait at most ``timeout`` seconds for the one that runs."""
        deadline = time.monotonic() + timeout
        with self.lock:
            self.stopping = True
            while self.running is not None and time.monotonic() < deadline:
                self.lock.wait(max(0.0, deadline - time.monotonic()))

    def resume(self) -> None:
        """Take tasks again after :meth:`stop`."""
        with self.lock:
            self.stopping = False

    def _trim(self) -> list[str]:
        finished = [g for g, t in self.tasks.items() if t.state in (TaskState.ok, TaskState.error)]
        dropped = finished[: max(0, len(finished) - KEEP_FINISHED)]
        for guid in dropped:
            del self.tasks[guid]
        return dropped
