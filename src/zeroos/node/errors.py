"""The zero-os node's errors: one root under ZosError."""

from __future__ import annotations

from ..common.errors import ZosError


class NodeError(ZosError):
    """Root of the node's errors."""


class CommandError(NodeError):
    """A job the node cannot run as given (bad arguments, a failed call): an ERROR result."""


class VmError(CommandError):
    """A VM the node cannot create or drive (bad boot files, a port in use, too much memory)."""


class VmNotFound(VmError):
    """No VM of that uuid on this node."""


class UnknownCommand(NodeError):
    """A job naming a command the node does not have: an UNKNOWN_CMD result."""


__all__ = ["CommandError", "NodeError", "UnknownCommand", "VmError", "VmNotFound"]
