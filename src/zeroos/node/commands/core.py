"""core.*: ping, run a process (core.system), kill a job, the node's own state."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

import psutil

from ..context import (
    EOF_ERROR,
    EOF_SUCCESS,
    STDERR_LEVEL,
    STDOUT_LEVEL,
    Context,
)
from ..errors import CommandError
from .base import Args, Command, NoArgs, ProcessOutcome

KILL_GRACE = 5.0  # seconds a process has between SIGTERM and SIGKILL when its job ends early


async def ping(ctx: Context, args: NoArgs) -> str:
    return "PONG"


class SystemArgs(Args):
    name: str
    args: list[str] = []
    dir: str = ""
    stdin: str = ""
    env: dict[str, str] | None = None


async def _pump(ctx: Context, stream: asyncio.StreamReader, level: int, into: list[str]) -> None:
    """Read a process's output line by line: kept for the result, streamed when asked."""
    while line := await stream.readline():
        text = line.decode(errors="replace")
        into.append(text)
        ctx.output(level, text.rstrip("\n"))


async def _stop(process: asyncio.subprocess.Process) -> None:
    """End a process whose job was cancelled (max_time, job.kill): TERM, then KILL."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), KILL_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def system(ctx: Context, args: SystemArgs) -> ProcessOutcome:
    """Run a process: argv, working folder, environment, stdin; its output kept and streamed."""
    argv, cwd, env = [args.name, *args.args], args.dir or None, None
    if ctx.job.container is not None:  # corex.dispatch: the runtime runs it inside
        if ctx.node.containers is None:
            raise CommandError("this node runs no containers")
        argv = ctx.node.containers.exec_argv(ctx.job.container, argv, args.env or {}, args.dir)
        cwd = None
    elif args.env is not None:
        env = {**os.environ, **args.env}
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # a kill of the job does not reach the node
        )
    except OSError as exc:
        raise CommandError(f"core.system: cannot run {args.name!r}: {exc.strerror or exc}") from exc
    ctx.job.process = process
    out: list[str] = []
    err: list[str] = []
    try:
        if process.stdin is None or process.stdout is None or process.stderr is None:
            raise CommandError("core.system: the process has no pipes")  # cannot happen: PIPE
        feed = asyncio.ensure_future(_feed(process.stdin, args.stdin.encode()))
        await asyncio.gather(
            _pump(ctx, process.stdout, STDOUT_LEVEL, out),
            _pump(ctx, process.stderr, STDERR_LEVEL, err),
            feed,
        )
        code = await process.wait()
    finally:
        await asyncio.shield(_stop(process))
    ctx.output(STDOUT_LEVEL, "", EOF_SUCCESS if code == 0 else EOF_ERROR)
    return ProcessOutcome(code, "".join(out), "".join(err))


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    # a process that exits without reading its input is no error of the job
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        if data:
            stdin.write(data)
            await stdin.drain()
        stdin.close()
        await stdin.wait_closed()


class KillArgs(Args):
    id: str
    signal: int = int(signal.SIGTERM)


async def kill(ctx: Context, args: KillArgs) -> bool:
    """Kill the job ``id`` (core.kill and job.kill)."""
    job = ctx.node.jobs.find(args.id)
    if job is None:
        raise CommandError(f"no running job {args.id!r}")
    if job is ctx.job:
        raise CommandError("a job cannot kill itself")
    try:
        job.kill(signal.Signals(args.signal))
    except ValueError as exc:
        raise CommandError(f"no signal {args.signal}") from exc
    return True


async def state(ctx: Context, args: NoArgs) -> dict[str, Any]:
    """The node process's own use of the machine (0-core's core.state)."""
    me = psutil.Process()
    with me.oneshot():
        memory = me.memory_info()
        return {
            "cpu": me.cpu_percent(interval=None),
            "rss": memory.rss,
            "vms": memory.vms,
            "swap": 0,
        }


COMMANDS = [
    Command("core.ping", NoArgs, ping),
    Command("core.system", SystemArgs, system),
    Command("core.kill", KillArgs, kill),
    Command("core.state", NoArgs, state),
]
