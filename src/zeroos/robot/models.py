"""The data zero-robot exchanges and keeps: services, tasks, templates, blueprints."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel, Field


class TaskState(StrEnum):
    """Where a task is: waiting, running, done, failed."""

    new = "new"
    running = "running"
    ok = "ok"
    error = "error"


class Priority(IntEnum):
    """Order of tasks in a task list: a lower value runs first (system < recurring < normal)."""

    system = 0
    recurring = 5
    normal = 10


class StateValue(StrEnum):
    """The value of one ``category:tag`` of a service's state."""

    ok = "ok"
    error = "error"
    running = "running"


class StateEntry(BaseModel):
    """One ``category:tag -> state`` of a service."""

    category: str
    tag: str = ""
    state: StateValue


class TaskFailure(BaseModel):
    """Why a task failed: a message for people and the traceback for developers."""

    message: str
    traceback: str = ""


class Task(BaseModel):
    """One action to run on one service, and what became of it."""

    guid: str
    service_guid: str
    action_name: str
    args: dict[str, Any] = Field(default_factory=dict)
    priority: Priority = Priority.normal
    state: TaskState = TaskState.new
    created: float
    started: float | None = None
    finished: float | None = None
    result: Any = None
    error: TaskFailure | None = None

    @property
    def duration(self) -> float | None:
        """Seconds the action ran (None until it finished)."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


class LogLine(BaseModel):
    """One line a service's actions logged (``self.logger`` in a template)."""

    time: float
    level: str
    task: str | None = None  # the guid of the task that logged it
    message: str


class Service(BaseModel):
    """A service as the robot keeps and shows it."""

    guid: str
    name: str
    template: str  # the template's UID: host/account/repo/name/version
    data: dict[str, Any] = Field(default_factory=dict)
    requested: dict[str, Any] = Field(default_factory=dict)  # the data it was created with
    state: list[StateEntry] = Field(default_factory=list)
    parent: str | None = None
    owner: str | None = None  # the zero-id user who created it (None: an admin or --dev)
    created: float


class ServiceCreated(Service):
    """A service just created (or found again): ``secret`` grants access to it alone, and is
    only ever shown once, to whoever created it (None when it was found, not created)."""

    secret: str | None = None


class ServiceCreate(BaseModel):
    """Ask for a service: a template (UID, ``name`` or ``name/version``), a name, its data."""

    template: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.@-]+$")
    data: dict[str, Any] = Field(default_factory=dict)
    parent: str | None = None


class TaskCreate(BaseModel):
    """Schedule an action on a service."""

    action_name: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    args: dict[str, Any] = Field(default_factory=dict)


class TemplateInfo(BaseModel):
    """A template the robot can instantiate."""

    uid: str
    host: str
    account: str
    repository: str
    name: str
    version: str
    actions: list[str]


class RepositoryAdd(BaseModel):
    """A template repository to load: a git URL (``#ref`` allowed) or a local path."""

    url: str = Field(min_length=1)
    branch: str | None = None


class RepositoryUpdate(BaseModel):
    """A repository to pull again (``url`` as ``GET /robot`` lists it; None: every one)."""

    url: str | None = None


class RepositoryCheckout(BaseModel):
    """A repository (``url`` as ``GET /robot`` lists it) to load at another ``ref``."""

    url: str = Field(min_length=1)
    ref: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._/-]+$")


class TemplateLoad(BaseModel):
    """What adding a repository gave: the templates loaded and those that failed."""

    templates: list[TemplateInfo]
    errors: list[str]


class RobotInfo(BaseModel):
    """What ``GET /robot`` tells."""

    version: str
    services: int
    templates: int
    repositories: list[str]
    template_errors: list[str]


class Blueprint(BaseModel):
    """A blueprint as JSON: ``content`` is the parsed YAML (0-robot's shape)."""

    content: dict[str, Any]


class BlueprintResult(BaseModel):
    """The services a blueprint created (or found) and the tasks it scheduled."""

    services: list[ServiceCreated]
    tasks: list[Task]
