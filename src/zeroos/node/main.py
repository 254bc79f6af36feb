"""Run a node from its settings: the keyspace, the job runner, the redis side."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from ..common.log import event
from ..common.service import ReadyFile, bind_tcp, stop_on_signals
from .auth import Gate, OpenGate, TokenGate
from .containers import Containers, RuntimeFailure, open_runtime
from .errors import NodeError
from .jobs import Runner
from .lists import Lists
from .server import NodeServer
from .settings import NodeSettings
from .tls import server_context
from .vms import QemuDriver, VmHost

log = logging.getLogger("zeroos.node")

SWEEP_EVERY = 30.0  # seconds between drops of expired results


def _gate(settings: NodeSettings) -> Gate:
    if settings.dev:
        log.warning(
            "event=dev_mode listen=%s "
            "hint='NO AUTHENTICATION: anyone on this machine can run commands as this user'",
            settings.listen,
        )
        return OpenGate()
    if settings.org is None or settings.id is None:  # the settings' validator forbids it
        raise NodeError("a node needs --org and --id, or --dev")
    return TokenGate(settings.id, settings.org)


async def _sweep(lists: Lists) -> None:
    while True:
        await asyncio.sleep(SWEEP_EVERY)
        lists.sweep()


async def _containers(settings: NodeSettings) -> Containers | None:
    """The node's containers, the ones a previous node left adopted; None without a runtime."""
    try:
        runtime = open_runtime(settings.runtime, Path(settings.data))
    except RuntimeFailure as exc:
        event(log, "no_containers", level=logging.WARNING, reason=str(exc), hint=exc.hint)
        return None
    containers = Containers(
        Path(settings.data), runtime, bridge=settings.bridge, cidr=settings.bridge_cidr
    )
    await containers.adopt()
    return containers


async def serve(settings: NodeSettings) -> None:
    """Serve until SIGINT or SIGTERM."""
    tls = server_context(Path(settings.data) / "tls", settings.listen)
    try:
        listener = bind_tcp(settings.listen, settings.port)
    except OSError as exc:
        raise NodeError(
            f"cannot listen on {settings.listen}:{settings.port}: {exc.strerror or exc}"
        ) from exc
    host, port = listener.getsockname()[:2]
    gate = _gate(settings)
    lists = Lists()
    runner = Runner(lists)
    containers = await _containers(settings)
    runner.node.containers = containers
    data = Path(settings.data)
    driver = QemuDriver(data / "vms", settings.vm_accel)
    vms = VmHost(driver, data / "vm-boot", settings.vm_shutdown_timeout)
    runner.node.vms = vms
    # VMs outlive the node: those still running are driven again, the stopped ones cleared
    adopted = await vms.driver.list()
    if adopted:
        event(log, "vms_adopted", count=len(adopted), uuids=",".join(vm.uuid for vm in adopted))
    server = NodeServer(lists, gate, tls)
    stop = stop_on_signals()
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    ready = ReadyFile(settings.ready_file, "node")
    tasks = [
        asyncio.create_task(server.serve(listener)),
        asyncio.create_task(_sweep(lists)),
    ]
    try:
        event(log, "listening", address=address, tls="same port", dev=settings.dev or None)
        ready.write([address])
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        for task in tasks:
            if task.done() and task.exception() is not None:
                raise NodeError(f"the node stopped: {task.exception()}")
    finally:
        ready.remove()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await runner.stop()
        driver.close()
        if containers is not None:
            await containers.close()
        await gate.aclose()
        listener.close()
        event(log, "stopped")


def run(settings: NodeSettings) -> None:
    """Serve a node until SIGINT or SIGTERM (on uvloop where it is installed)."""
    try:
        import uvloop
    except ImportError:  # uvloop is not made for every platform (pyproject: not on Windows)
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))


__all__ = ["run", "serve"]
