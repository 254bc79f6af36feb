"""corex.*: containers from flists (create, list, get, find, terminate, dispatch, forwards)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from ..containers import DEFAULT_INIT, Containers, Limits
from ..context import Context, Job
from ..errors import CommandError
from .base import Args, Command

MIB = 1024 * 1024
INSIDE = {"core.system"}  # what corex.dispatch runs inside a container


def _containers(ctx: Context) -> Containers:
    if ctx.node.containers is None:
        raise CommandError("this node runs no containers")
    return ctx.node.containers


class Nic(Args):
    type: str
    id: str | None = None
    name: str | None = None
    hwaddr: str | None = None
    config: dict[str, Any] | None = None
    monitor: bool | None = None


class CreateArgs(Args):
    root: str
    mount: dict[str, str] | None = None
    host_network: bool = False
    nics: list[Nic] = [Nic(type="default")]
    port: dict[str, int] | None = None  # host port -> container port (JSON keys are text)
    privileged: bool = False
    hostname: str | None = None
    storage: str | None = None
    name: str | None = None
    identity: str | None = None
    env: dict[str, str] | None = None
    cpu: float | None = None  # cores (a fraction is fine)
    memory: int | None = None  # MiB
    init: list[str] | None = None  # the container's process [default: a shell that waits]


def _port(value: str | int, what: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise CommandError(f"{what} {value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise CommandError(f"{what} {port} is not in 1..65535")
    return port


def _ports(given: dict[str, int] | None) -> dict[int, int]:
    return {
        _port(host, "host port"): _port(inside, "container port")
        for host, inside in (given or {}).items()
    }


async def create(ctx: Context, args: CreateArgs) -> int:
    """Start a container from the root flist; its id."""
    containers = _containers(ctx)
    if args.host_network:
        raise CommandError("corex.create: host_network is not supported: use nics")
    if args.privileged:
        raise CommandError("corex.create: privileged containers are not supported")
    kinds = {nic.type for nic in args.nics}
    if kinds - {"default"}:
        raise CommandError(
            f"corex.create: nic type {sorted(kinds - {'default'})[0]!r} is not supported here:"
            " give [{'type': 'default'}] or [] (none)"
        )
    if args.cpu is not None and args.cpu <= 0:
        raise CommandError("corex.create: cpu must be more than 0 cores")
    if args.memory is not None and args.memory <= 0:
        raise CommandError("corex.create: memory must be more than 0 MiB")
    if args.init is not None and not args.init:
        raise CommandError("corex.create: init must name a program")
    record = await containers.create(
        root=args.root,
        arguments=args.model_dump(mode="json"),
        tags=list(ctx.job.tags or []),
        mounts=dict(args.mount or {}),
        ports=_ports(args.port),
        env=dict(args.env or {}),
        hostname=args.hostname or args.name or "",
        network_on=bool(args.nics),
        limits=Limits(args.cpu, args.memory * MIB if args.memory else None),
        init=list(args.init or DEFAULT_INIT),
    )
    return record.id


class ListArgs(Args):
    pass


async def list_(ctx: Context, args: ListArgs) -> dict[str, Any]:
    containers = _containers(ctx)
    return {str(n): containers.describe(r) for n, r in sorted(containers.records.items())}


class ContainerArgs(Args):
    container: int


async def get(ctx: Context, args: ContainerArgs) -> dict[str, Any]:
    containers = _containers(ctx)
    return containers.describe(containers.get(args.container))


class FindArgs(Args):
    tags: list[str] = []


async def find(ctx: Context, args: FindArgs) -> dict[str, Any]:
    """The containers carrying every one of ``tags``."""
    containers = _containers(ctx)
    wanted = set(args.tags)
    return {
        str(n): containers.describe(r)
        for n, r in sorted(containers.records.items())
        if wanted <= set(r.tags)
    }


async def terminate(ctx: Context, args: ContainerArgs) -> None:
    await _containers(ctx).terminate(args.container)


class Inner(Args):
    command: str
    arguments: dict[str, Any] | None = None
    queue: str | None = None
    max_time: int | None = None
    stream: bool = False
    tags: list[str] | None = None
    id: str | None = None


class DispatchArgs(Args):
    container: int
    command: Inner


async def dispatch(ctx: Context, args: DispatchArgs) -> str:
    """Start a command inside a container as a job of its own; its job id (the client waits)."""
    await asyncio.to_thread(_containers(ctx).running, args.container)
    inner = args.command
    if inner.command not in INSIDE:
        raise CommandError(
            f"corex.dispatch: {inner.command!r} does not run inside a container here"
            f" (only {', '.join(sorted(INSIDE))})"
        )
    job = Job(
        id=inner.id or str(uuid.uuid4()),
        command=inner.command,
        arguments=inner.arguments,
        queue=inner.queue,
        max_time=inner.max_time or None,
        stream=inner.stream,
        tags=inner.tags,
        container=args.container,
    )
    ctx.node.jobs.submit(job)
    return job.id


class ForwardArgs(Args):
    container: int
    host_port: str | int
    container_port: int


async def portforward_add(ctx: Context, args: ForwardArgs) -> None:
    await _containers(ctx).port_add(
        args.container,
        _port(args.host_port, "host port"),
        _port(args.container_port, "container port"),
    )


async def portforward_remove(ctx: Context, args: ForwardArgs) -> None:
    await _containers(ctx).port_remove(
        args.container,
        _port(args.host_port, "host port"),
        _port(args.container_port, "container port"),
    )


COMMANDS = [
    Command("corex.create", CreateArgs, create),
    Command("corex.list", ListArgs, list_),
    Command("corex.get", ContainerArgs, get),
    Command("corex.find", FindArgs, find),
    Command("corex.terminate", ContainerArgs, terminate),
    Command("corex.dispatch", DispatchArgs, dispatch),
    Command("corex.portforward-add", ForwardArgs, portforward_add),
    Command("corex.portforward-remove", ForwardArgs, portforward_remove),
]
