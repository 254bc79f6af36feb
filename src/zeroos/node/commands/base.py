"""How a command is declared: its name, the model of its arguments, and the coroutine to run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..context import Context
from ..errors import CommandError


class Args(BaseModel):
    """Base of a command's arguments: types as sent in JSON, no coercion, no unknown names."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class NoArgs(Args):
    """The arguments of a command that takes none ({})."""


@dataclass(frozen=True, slots=True)
class ProcessOutcome:
    """What a command that ran a process returns: exit code and output (level 0, no JSON)."""

    code: int
    stdout: str
    stderr: str


@dataclass(frozen=True, slots=True)
class Command:
    """One entry of the command table."""

    name: str
    args: type[Args]
    run: Callable[[Context, Any], Awaitable[Any]]

    def parse(self, arguments: Any) -> Args:
        """The arguments checked against the model; one CommandError line when they do not fit."""
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            kind = type(arguments).__name__
            raise CommandError(f"{self.name}: arguments must be a JSON object, not {kind}")
        try:
            return self.args.model_validate(arguments)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            named = f"argument {where!r}" if where else "arguments"
            raise CommandError(f"{self.name}: {named}: {first['msg']}") from None


__all__ = ["Args", "Command", "NoArgs", "ProcessOutcome"]
