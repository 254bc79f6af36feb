"""The robot: its templates, its services and their task lists, kept under its data folder."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .._version import __version__
from ..common.log import event
from .blueprint import ActionStep, parse_actions, parse_services
from .catalog import Catalog
from .errors import BadRequest, Conflict, NotFound, RobotError
from .journal import Record, remove_line, service_line, task_line
from .loader import Loaded
from .models import (
    BlueprintResult,
    LogLine,
    Priority,
    RobotInfo,
    Service,
    ServiceCreate,
    ServiceCreated,
    Task,
    TaskFailure,
    TaskState,
)
from .pool import WorkerPool
from .runtime import ServiceRuntime
from .store import open_store
from .template import ServiceState, TemplateBase

log = logging.getLogger("zeroos.robot")
TICK = 0.2  # how often recurring actions are looked at


class RobotAPI:
    """What a template's ``self.api`` offers: the robot's services, to read, create and task."""

    def __init__(self, robot: Robot) -> None:
        self.services = robot


class Robot:
    """Templates, services and task lists, journaled in ``store`` (``zdb://...``) or under
    ``data``, which holds the template clones in any case; ``workers`` threads run the tasks;
    actions time out after ``task_timeout`` seconds unless a template says otherwise."""

    def __init__(
        self,
        data: Path,
        *,
        task_timeout: float = 300.0,
        store: str | None = None,
        workers: int = 32,
    ) -> None:
        self.data = data
        self.data.mkdir(parents=True, exist_ok=True)
        self.task_timeout = task_timeout
        self.store = open_store(store or str(data), data)
        self.pool = WorkerPool(workers)
        self.catalog = Catalog(data)
        self.problems = self.catalog.problems  # templates and services that could not be loaded
        self._services: dict[str, ServiceRuntime] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="robot-recurring", daemon=True)
        self.api = RobotAPI(self)

    # -- templates ----------------------------------------------------------------------------

    def update_repository(self, url: str | None = None) -> Loaded:
        """Pull again the repository added as ``url`` (every one when None) and reload its
        templates; services of a template whose UID is unchanged run their next tasks with
        the new code."""
        loaded = self.catalog.update_repository(url)
        self._replace_classes(loaded)
        return loaded

    def checkout_repository(self, url: str, ref: str) -> Loaded:
        """Load repository ``url`` (as added) at ``ref`` instead: a branch, tag or commit."""
        loaded = self.catalog.checkout_repository(url, ref)
        self._replace_classes(loaded)
        return loaded

    def _replace_classes(self, loaded: Loaded) -> None:
        with self._lock:
            runtimes = list(self._services.values())
        for runtime in runtimes:
            cls = loaded.templates.get(runtime.service.template)
            if cls is not None:
                runtime.replace_class(cls)

    def info(self) -> RobotInfo:
        """What ``GET /robot`` tells."""
        templates, repositories, problems = self.catalog.counts()
        with self._lock:
            services = len(self._services)
        return RobotInfo(
            version=__version__,
            services=services,
            templates=templates,
            repositories=repositories,
            template_errors=problems,
        )

    # -- services -----------------------------------------------------------------------------

    def _runtime(self, cls: type[TemplateBase], record: Record) -> ServiceRuntime:
        service = record.service
        data = cls.validate_data(service.data)
        instance = cls(service.guid, service.name, data, ServiceState(service.state), self.api)
        return ServiceRuntime(
            service,
            instance,
            record.tasks,
            self.store,
            self.task_timeout,
            record.secret_hash,
            record.logs,
        )

    def restore(self) -> int:
        """Replay the journal, bring back every service kept and start running their task
        lists (call once, when the templates are loaded); how many."""
        records, errors = self.store.load()
        self.problems.extend(errors)
        lines: list[bytes] = []
        for record in records:
            interrupted = [t for t in record.tasks if t.state is TaskState.running]
            for task in interrupted:  # it may have half run: not run twice
                task.state, task.finished = TaskState.error, time.time()
                task.error = TaskFailure(message="the robot stopped while this task ran")
                lines.append(task_line(task))
            try:
                runtime = self._runtime(self.catalog.template(record.service.template), record)
            except RobotError as exc:
                self.problems.append(f"service {record.service.name}: not restored: {exc}")
                continue
            self._services[record.service.guid] = runtime
        if lines:
            self.store.write(lines)
        self.pool.start()
        for runtime in self._services.values():
            self.pool.wake(runtime)
        return len(self._services)

    def start(self) -> None:
        """Start the recurring actions."""
        self._ticker.start()

    def close(self) -> None:
        """Stop the task lists (a task still running is left as interrupted), the recurring
        actions and the journal."""
        self._stop.set()
        with self._lock:
            runtimes = list(self._services.values())
        for runtime in runtimes:
            with runtime.lock:
                runtime.stopping = True
        if self._ticker.is_alive():
            self._ticker.join(5)
        self.store.close()  # first: what still runs now ends as interrupted, on disk
        self.pool.stop()

    @staticmethod
    def _same(runtime: ServiceRuntime, cls: type[TemplateBase], data: dict[str, Any]) -> bool:
        """Whether asking for ``cls`` with ``data`` asks for this service again: same template,
        created with the same data (its actions may have changed the data since)."""
        wanted = cls.validate_data(data).model_dump(mode="json")
        return runtime.service.template == cls.uid and runtime.service.requested == wanted

    def check_create(
        self, ask: ServiceCreate, owner: str | None = None
    ) -> tuple[type[TemplateBase], ServiceRuntime | None]:
        """The template of ``ask`` and the service of that name it asks again for, if any;
        NotFound, BadRequest or Conflict when it cannot be created."""
        cls = self.catalog.template(ask.template)
        cls.validate_data(ask.data)
        existing = self.find(ask.name)
        if existing is not None and existing.service.owner != owner:
            raise Conflict(f"service {ask.name!r} exists already, of another owner")
        if existing is not None and not self._same(existing, cls, ask.data):
            raise Conflict(
                f"service {ask.name!r} exists already "
                + (
                    f"with template {existing.service.template}"
                    if existing.service.template != cls.uid
                    else "with other data"
                )
            )
        return cls, existing

    def create(
        self, ask: ServiceCreate, owner: str | None = None, *, durable: bool = True
    ) -> ServiceCreated:
        """Create the service for ``owner`` (or find the same one; then without its secret);
        on disk when it returns unless not ``durable`` (then ``store.sync()`` before saying so)."""
        with self._lock:
            cls, existing = self.check_create(ask, owner)
            if existing is not None:
                return ServiceCreated(**existing.service.model_dump())
            if ask.parent is not None:
                self.get(ask.parent)
            service = Service(
                guid=str(uuid.uuid4()),
                name=ask.name,
                template=cls.uid,
                data=cls.validate_data(ask.data).model_dump(mode="json"),
                requested=cls.validate_data(ask.data).model_dump(mode="json"),
                parent=ask.parent,
                owner=owner,
                created=time.time(),
            )
            secret = secrets.token_urlsafe(32)
            runtime = self._runtime(cls, Record(service=service, secret_hash=_hash(secret)))
            self.store.write([service_line(service, runtime.secret_hash)], wait=durable)
            self._services[service.guid] = runtime
        event(log, "service_created", service=service.name, template=service.template)
        return ServiceCreated(**service.model_dump(), secret=secret)

    def secret_opens(self, guid: str, secret: str) -> bool:
        """Whether ``secret`` is the secret of service ``guid``."""
        with self._lock:
            runtime = self._services.get(guid)
        return runtime is not None and hmac.compare_digest(runtime.secret_hash, _hash(secret))

    def find(self, name: str) -> ServiceRuntime | None:
        """The service called ``name``, if any."""
        with self._lock:
            return next((r for r in self._services.values() if r.service.name == name), None)

    def runtime(self, guid: str) -> ServiceRuntime:
        """The service ``guid`` at run time; NotFound if none."""
        with self._lock:
            runtime = self._services.get(guid)
        if runtime is None:
            raise NotFound(f"no service {guid}")
        return runtime

    def get(self, guid: str) -> Service:
        """The service ``guid``."""
        return self.runtime(guid).service

    def services(
        self,
        *,
        name: str | None = None,
        template_uid: str | None = None,
        template_name: str | None = None,
        template_version: str | None = None,
        parent: str | None = None,
    ) -> list[Service]:
        """The services matching every filter given."""
        with self._lock:
            services = [r.service for r in self._services.values()]
        out = []
        for s in services:
            _, _, _, tname, tversion = s.template.split("/", 4)
            if (
                (name is None or s.name == name)
                and (template_uid is None or s.template == template_uid)
                and (template_name is None or tname == template_name)
                and (template_version is None or tversion == template_version)
                and (parent is None or s.parent == parent)
            ):
                out.append(s)
        return sorted(out, key=lambda s: s.created)

    def delete(self, guid: str) -> None:
        """Run the service's ``delete`` hook, stop its task list and forget it."""
        runtime = self.runtime(guid)
        runtime.stop()
        try:
            runtime.instance.delete()
        except Exception as exc:
            runtime.resume()
            self.pool.wake(runtime)
            raise RobotError(
                f"the delete hook of service {runtime.service.name} failed: {exc}; it is kept"
            ) from exc
        with self._lock:
            self._services.pop(guid, None)
            self.store.write([remove_line(guid)])
        event(log, "service_deleted", service=runtime.service.name)

    # -- tasks --------------------------------------------------------------------------------

    def schedule(
        self, guid: str, action: str, args: dict[str, Any], priority: Priority = Priority.normal
    ) -> Task:
        """Add ``action(**args)`` to the task list of service ``guid`` (durably)."""
        return self.schedule_many([(guid, action, args)], priority)[0]

    def schedule_many(
        self,
        asks: list[tuple[str, str, dict[str, Any]]],
        priority: Priority = Priority.normal,
    ) -> list[Task]:
        """Add ``(service guid, action, args)`` tasks in one journal write; all are checked
        before any is added."""
        planned = []
        for guid, action, args in asks:
            runtime = self.runtime(guid)
            planned.append((runtime, runtime.new_task(action, args, priority)))
        self.store.write([task_line(task) for _, task in planned])
        for runtime, task in planned:
            runtime.enqueue([task])
        for runtime in dict.fromkeys(r for r, _ in planned):
            self.pool.wake(runtime)
        return [task for _, task in planned]

    def tasks(self, guid: str, state: TaskState | None = None) -> list[Task]:
        """The task list of service ``guid`` (only tasks in ``state`` when given)."""
        runtime = self.runtime(guid)
        with runtime.lock:
            tasks = [t.model_copy() for t in runtime.tasks.values()]
        return [t for t in tasks if state is None or t.state is state]

    def task(self, guid: str, task_guid: str) -> Task:
        """One task of service ``guid``."""
        runtime = self.runtime(guid)
        with runtime.lock:
            task = runtime.tasks.get(task_guid)
            if task is None:
                raise NotFound(f"service {runtime.service.name} has no task {task_guid}")
            return task.model_copy()

    def logs(self, guid: str, task: str | None = None) -> list[LogLine]:
        """The last lines service ``guid``'s actions logged (only task ``task``'s when given)."""
        lines = list(self.runtime(guid).log.lines)
        return [line for line in lines if task is None or line.task == task]

    def wait(self, guid: str, task_guid: str, timeout: float = 60.0) -> Task:
        """The task once it finished; RobotError if it did not in ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (task := self.task(guid, task_guid)).state in (TaskState.new, TaskState.running):
            if time.monotonic() > deadline:
                raise RobotError(f"task {task_guid} did not finish in {timeout:g} s")
            time.sleep(0.02)
        return task

    # -- blueprints ---------------------------------------------------------------------------

    def blueprint(self, content: dict[str, Any], owner: str | None = None) -> BlueprintResult:
        """Create a blueprint's services (all checked before any is made), then schedule its
        actions in order."""
        asks = parse_services(content.get("services") or [])
        steps = parse_actions(content.get("actions") or [])
        with self._lock:
            chosen = [(ask, self.check_create(ask, owner)[0]) for ask in asks]
            plan = [(step, self._targets(step, chosen)) for step in steps]
            made = {ask.name: self.create(ask, owner, durable=False) for ask in asks}
        self.store.sync()  # one group commit for all of them
        tasks = self.schedule_many(
            [
                (made[name].guid, action, step.args)
                for step, names in plan
                for name in names
                for action in step.actions
            ]
        )
        return BlueprintResult(services=list(made.values()), tasks=tasks)

    def _targets(
        self, step: ActionStep, chosen: list[tuple[ServiceCreate, type[TemplateBase]]]
    ) -> list[str]:
        """The names of the blueprint's services ``step`` applies to, its actions checked."""
        wanted = None if step.template is None else self.catalog.template(step.template).uid
        names = []
        for ask, cls in chosen:
            if (step.service is None or ask.name == step.service) and wanted in (None, cls.uid):
                missing = [a for a in step.actions if a not in cls.actions()]
                if missing:
                    raise BadRequest(f"template {cls.uid} has no action {', '.join(missing)}")
                names.append(ask.name)
        if not names:
            raise NotFound(f"blueprint actions {step.actions} match no service of the blueprint")
        return names

    # -- recurring actions --------------------------------------------------------------------

    def _tick(self) -> None:
        while not self._stop.wait(TICK):
            with self._lock:
                runtimes = list(self._services.values())
            now = time.monotonic()
            for runtime in runtimes:
                for action, period in type(runtime.instance).recurring.items():
                    if now < runtime.next_due.get(action, 0.0) or runtime.pending(action):
                        continue
                    runtime.next_due[action] = now + period
                    try:
                        self.schedule(runtime.service.guid, action, {}, Priority.recurring)
                    except RobotError as exc:
                        event(log, "recurring_error", level=logging.WARNING, error=str(exc))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
