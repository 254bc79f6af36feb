"""job.*: the node's running jobs, and killing one."""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..errors import CommandError
from .base import Args, Command
from .core import KillArgs, kill


class ListArgs(Args):
    id: str | None = None


async def list_jobs(ctx: Context, args: ListArgs) -> list[dict[str, Any]]:
    """Every running job (or the one named), as it was sent and when it started."""
    if args.id is None:
        return [job.describe() for job in ctx.node.jobs.running()]
    job = ctx.node.jobs.find(args.id)
    if job is None:
        raise CommandError(f"no running job {args.id!r}")
    return [job.describe()]


COMMANDS = [
    Command("job.list", ListArgs, list_jobs),
    Command("job.kill", KillArgs, kill),
]
