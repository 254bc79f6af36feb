"""One service at run time: its template instance and its task list, consumed by its thread.

Tasks run one at a time, lowest priority value first (system < recurring < normal), then in
the order they were scheduled. Each action runs in a thread of its own so that one that hangs
past its timeout only fails its task: the service moves on to the next one (the hung thread is
left behind, as Python cannot stop a thread).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from pydantic_core import to_jsonable_python

from .errors import BadRequest
from .models import Priority, Service, Task, TaskFailure, TaskState
from .store import Record
from .template import TemplateBase

KEEP_FINISHED = 200  # finished tasks kept in a task list, newest last
_seq = itertools.count()


class ServiceRuntime:
    """A service, its template instance and its task list; ``save`` persists the record."""

    def __init__(
        self,
        service: Service,
        instance: TemplateBase,
        tasks: list[Task],
        save: Callable[[Record], None],
        timeout: float,
        secret_hash: str,
    ) -> None:
        self.service = service
        self.secret_hash = secret_hash
        self.instance = instance
        self.tasks: dict[str, Task] = {t.guid: t for t in tasks}
        self._save = save
        self._writing = threading.Lock()
        self.timeout = instance.timeout or timeout
        self.lock = threading.Condition()
        self._queue: list[tuple[int, int, str]] = []
        self._stopping = False
        self.next_due: dict[str, float] = {}
        for task in tasks:
            if task.state is TaskState.new:
                heapq.heappush(self._queue, (int(task.priority), next(_seq), task.guid))
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start (or start again after :meth:`stop`) consuming the task list."""
        with self.lock:
            self._stopping = False
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._work, name=f"robot-service-{self.service.name}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the task that runs (waiting at most ``timeout`` seconds for it)."""
        with self.lock:
            self._stopping = True
            self.lock.notify_all()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)

    def record(self) -> Record:
        """The service and its task list as they are kept."""
        return Record(
            service=self.service, tasks=list(self.tasks.values()), secret_hash=self.secret_hash
        )

    def persist(self) -> None:
        """Write the service and its task list (one writer at a time, so the newest wins);
        nothing once stopped: an action still running then is recorded as interrupted."""
        with self._writing:
            with self.lock:
                if self._stopping:
                    return
                record = self.record().model_copy(deep=True)
            self._save(record)

    def schedule(
        self, action: str, args: dict[str, Any], priority: Priority = Priority.normal
    ) -> Task:
        """Add ``action(**args)`` to the task list; BadRequest for an action the template lacks."""
        if action not in type(self.instance).actions():
            raise BadRequest(
                f"template {self.service.template} has no action {action!r} "
                f"(it has: {', '.join(type(self.instance).actions()) or 'none'})"
            )
        task = Task(
            guid=str(uuid.uuid4()),
            service_guid=self.service.guid,
            action_name=action,
            args=args,
            priority=priority,
            created=time.time(),
        )
        with self.lock:
            self.tasks[task.guid] = task
            heapq.heappush(self._queue, (int(priority), next(_seq), task.guid))
        self.persist()
        with self.lock:
            self.lock.notify_all()
        return task

    def pending(self, action: str) -> bool:
        """Whether a task of ``action`` waits or runs."""
        with self.lock:
            return any(
                t.action_name == action and t.state in (TaskState.new, TaskState.running)
                for t in self.tasks.values()
            )

    def _next(self) -> Task | None:
        with self.lock:
            while not self._queue and not self._stopping:
                self.lock.wait()
            if self._stopping:
                return None
            _, _, guid = heapq.heappop(self._queue)
            task = self.tasks[guid]
            task.state, task.started = TaskState.running, time.time()
        return task

    def _work(self) -> None:
        while (task := self._next()) is not None:
            self.persist()  # a crash from here on leaves the task "running": interrupted
            outcome = self._run(task)
            with self.lock:
                task.finished = time.time()
                if isinstance(outcome, TaskFailure):
                    task.state, task.error = TaskState.error, outcome
                else:
                    task.state, task.result = TaskState.ok, outcome
                self.service.data = self.instance.data.model_dump(mode="json")
                self.service.state = self.instance.state.entries()
                self._trim()
            self.persist()

    def _run(self, task: Task) -> Any:
        """The action's result (JSON-able), or a TaskFailure."""
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                result = getattr(self.instance, task.action_name)(**task.args)
                box["result"] = to_jsonable_python(result, fallback=repr)
            except BaseException as exc:  # an action may raise anything; it fails its task only
                box["error"] = TaskFailure(
                    message=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()
                )

        runner = threading.Thread(
            target=call, name=f"robot-action-{self.service.name}-{task.action_name}", daemon=True
        )
        runner.start()
        runner.join(self.timeout)
        if runner.is_alive():
            return TaskFailure(message=f"{task.action_name} timed out after {self.timeout:g} s")
        return box["error"] if "error" in box else box.get("result")

    def _trim(self) -> None:
        finished = [g for g, t in self.tasks.items() if t.state in (TaskState.ok, TaskState.error)]
        for guid in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self.tasks[guid]
