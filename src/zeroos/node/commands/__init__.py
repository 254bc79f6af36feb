"""The node's commands: one table, by name, of every command a client may send."""

from __future__ import annotations

from . import bridge, capacity, core, corex, disk, filesystem, info, job, kvm, process
from .base import Args, Command, NoArgs, ProcessOutcome

COMMANDS: dict[str, Command] = {
    command.name: command
    for module in (core, info, job, process, filesystem, capacity, corex, bridge, kvm, disk)
    for command in module.COMMANDS
}

__all__ = ["COMMANDS", "Args", "Command", "NoArgs", "ProcessOutcome"]
