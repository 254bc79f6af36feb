"""``TemplateBase``: what a template class derives from (0-robot's shape, typed data).

A template lives in ``templates/<name>/<name>.py`` of a repository; its class is the CamelCase
of the folder (``zero_db`` -> ``ZeroDb``)::

    class Counter(TemplateBase):
        template_name = "counter"
        version = "0.0.1"
        recurring = {"tick": 5.0}  # action -> period in seconds

        class Data(BaseModel):
            start: int = 0

        def install(self) -> None:
            self.state.set("actions", "install", "ok")

        def tick(self) -> int:
            self.data.start += 1
            return self.data.start
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from .errors import BadRequest
from .models import StateEntry, StateValue

if TYPE_CHECKING:
    from .engine import RobotAPI


class EmptyData(BaseModel):
    """The data of a template that declares none: any key is refused."""

    model_config = ConfigDict(extra="forbid")


class ServiceState:
    """A service's state: ``category:tag -> ok|error|running`` (0-robot's ``self.state``)."""

    def __init__(self, entries: list[StateEntry] | None = None) -> None:
        self._entries: dict[tuple[str, str], StateValue] = {
            (e.category, e.tag): e.state for e in entries or []
        }

    def set(self, category: str, tag: str, state: str) -> None:
        """Set ``category:tag``; ``state`` must be ok, error or running."""
        try:
            value = StateValue(state)
        except ValueError:
            raise BadRequest(f"state {state!r} is not one of ok, error, running") from None
        self._entries[(category, tag)] = value

    def get(self, category: str, tag: str = "") -> StateValue | None:
        """The state of ``category:tag`` (None when never set)."""
        return self._entries.get((category, tag))

    def delete(self, category: str, tag: str = "") -> None:
        """Forget ``category:tag``."""
        self._entries.pop((category, tag), None)

    def entries(self) -> list[StateEntry]:
        """Every ``category:tag`` set, as the API shows them."""
        return [StateEntry(category=c, tag=t, state=s) for (c, t), s in self._entries.items()]


class TemplateBase:
    """Base of every template: a service is one instance, its actions are its methods.

    ``Data`` (a pydantic model) validates the service's data; ``recurring`` maps an action to its
    period in seconds; ``timeout`` bounds each action (None: the robot's ``--task-timeout``);
    ``delete()`` runs when the service is deleted; ``self.logger`` lines are the service's
    logs.
    """

    template_name: ClassVar[str] = ""
    version: ClassVar[str] = "0.0.1"
    Data: ClassVar[type[BaseModel]] = EmptyData
    recurring: ClassVar[dict[str, float]] = {}
    timeout: ClassVar[float | None] = None
    uid: ClassVar[str] = ""  # set by the loader: host/account/repo/name/version
    _actions: ClassVar[list[str]]

    def __init__(
        self, guid: str, name: str, data: BaseModel, state: ServiceState, api: RobotAPI
    ) -> None:
        self.guid = guid
        self.name = name
        self.data = data
        self.state = state
        self.api = api
        # a logger of this service alone (GET /services/{guid}/logs), not in logging's tree
        self.logger = logging.Logger(f"zeroos.robot.service.{name}")

    @classmethod
    def actions(cls) -> list[str]:
        """The names of the actions a service of this template can run (``update`` included)."""
        known = cls.__dict__.get("_actions")
        if known is None:  # once a class: every task asks
            known = sorted(
                name
                for name in dir(cls)
                if not name.startswith("_")
                and (name == "update" or name not in vars(TemplateBase))
                and callable(getattr(cls, name))
                and not isinstance(getattr(cls, name), type)
            )
            cls._actions = known
        return list(known)

    @classmethod
    def validate_data(cls, data: dict[str, Any]) -> BaseModel:
        """``data`` checked by the template's schema; :class:`BadRequest` naming the field."""
        try:
            return cls.Data.model_validate(data)
        except ValueError as exc:
            raise BadRequest(f"data for {cls.uid or cls.__name__}: {_first_error(exc)}") from exc

    def update(self, **changes: Any) -> None:
        """Change some of the data (checked by the schema) — 0-robot's ``update_data``."""
        merged = {**self.data.model_dump(), **changes}
        self.data = self.validate_data(merged)

    def delete(self) -> None:
        """Called when the service is deleted: release what it holds (default: nothing)."""


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "data"
        return f"{where}: {first.get('msg', 'invalid')}"
    return str(exc)
