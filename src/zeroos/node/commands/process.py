"""process.*: the machine's processes, and killing one."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import psutil

from ..context import Context
from ..errors import CommandError
from .base import Args, Command


class ListArgs(Args):
    pid: int | None = None


def _describe(proc: psutil.Process) -> dict[str, Any]:
    with proc.oneshot():
        memory = proc.memory_info()
        return {
            "pid": proc.pid,
            "ppid": proc.ppid(),
            "cmdline": " ".join(proc.cmdline()),
            "name": proc.name(),
            "cpu": proc.cpu_percent(interval=None),
            "rss": memory.rss,
            "vms": memory.vms,
            "swap": 0,
        }


async def list_processes(ctx: Context, args: ListArgs) -> list[dict[str, Any]]:
    """Every process of the machine (or the one named): pid, command line, memory."""
    if args.pid is not None:
        try:
            return [_describe(psutil.Process(args.pid))]
        except psutil.NoSuchProcess as exc:
            raise CommandError(f"no process {args.pid}") from exc
    return await asyncio.to_thread(_all)  # hundreds of /proc reads: off the event loop


def _all() -> list[dict[str, Any]]:
    found = []
    for proc in psutil.process_iter():
        try:
            found.append(_describe(proc))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue  # gone (or closed to us) between listing and reading it
    return found


class KillArgs(Args):
    pid: int
    signal: int = int(signal.SIGTERM)


async def kill_process(ctx: Context, args: KillArgs) -> bool:
    try:
        sig = signal.Signals(args.signal)
    except ValueError as exc:
        raise CommandError(f"no signal {args.signal}") from exc
    try:
        psutil.Process(args.pid).send_signal(sig)
    except psutil.NoSuchProcess as exc:
        raise CommandError(f"no process {args.pid}") from exc
    except psutil.AccessDenied as exc:
        raise CommandError(f"not allowed to signal process {args.pid}") from exc
    return True


COMMANDS = [
    Command("process.list", ListArgs, list_processes),
    Command("process.kill", KillArgs, kill_process),
]
