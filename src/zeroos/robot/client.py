"""zero-robot over HTTP, for the command line and other parts."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from ..common.http import HttpApi, JsonClient, bearer_header, by_status
from .errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RepositoryError,
    RobotError,
    Unauthorized,
)
from .models import BlueprintResult, LogLine, Service, Task, TaskState, TemplateInfo

API = HttpApi(
    "zero-robot",
    RobotError,
    by_status(BadRequest, Unauthorized, Forbidden, NotFound, Conflict, RepositoryError),
)
_SERVICES = TypeAdapter(list[Service])
_TASKS = TypeAdapter(list[Task])
_TEMPLATES = TypeAdapter(list[TemplateInfo])
_LOGS = TypeAdapter(list[LogLine])


class RobotClient(JsonClient):
    """A zero-robot at ``url``; every call waits at most ``timeout`` seconds."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        super().__init__(url, API, headers=bearer_header(token), timeout=timeout)

    def templates(self) -> list[TemplateInfo]:
        """The templates the robot can instantiate."""
        return _TEMPLATES.validate_python(self.call("GET", "/templates"))

    def services(self, **filters: str) -> list[Service]:
        """The services matching ``filters`` (name, template_uid, template_name, ...)."""
        return _SERVICES.validate_python(self.call("GET", "/services", params=filters))

    def service(self, name_or_guid: str) -> Service:
        """One service, by guid or by name."""
        found = self.services(name=name_or_guid)
        if found:
            return found[0]
        return Service.model_validate(self.call("GET", f"/services/{name_or_guid}"))

    def tasks(self, guid: str, state: TaskState | None = None) -> list[Task]:
        """A service's task list."""
        params = {"state": state.value} if state else {}
        return _TASKS.validate_python(
            self.call("GET", f"/services/{guid}/task_list", params=params)
        )

    def task(self, guid: str, task_guid: str) -> Task:
        """One task."""
        return Task.model_validate(self.call("GET", f"/services/{guid}/task_list/{task_guid}"))

    def schedule(self, guid: str, action: str, args: dict[str, Any] | None = None) -> Task:
        """Schedule an action on a service."""
        body = {"action_name": action, "args": args or {}}
        return Task.model_validate(self.call("POST", f"/services/{guid}/task_list", json=body))

    def blueprint(self, text: str) -> BlueprintResult:
        """Apply a YAML blueprint."""
        headers = {"Content-Type": "application/yaml"}
        answer = self.call("POST", "/blueprints", content=text.encode(), headers=headers)
        return BlueprintResult.model_validate(answer)

    def logs(self, guid: str, task: str | None = None) -> list[LogLine]:
        """The last lines a service's actions logged (only task ``task``'s when given)."""
        params = {"task": task} if task else {}
        return _LOGS.validate_python(self.call("GET", f"/services/{guid}/logs", params=params))
