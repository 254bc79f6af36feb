"""``run(settings)``: zero-robot with its templates and services, until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from pathlib import Path

import uvicorn

from ..common.address import format_hostport
from ..common.log import event
from ..common.service import ReadyFile, bind_tcp, call_on_signals
from ..identity import AsyncVerifier
from .app import create_app
from .deps import Auth
from .engine import Robot
from .errors import RobotError
from .settings import RobotSettings

log = logging.getLogger("zeroos.robot")


def build(settings: RobotSettings) -> Robot:
    """The robot the settings describe: repositories loaded, services restored."""
    in_zdb = settings.data.startswith("zdb://")
    robot = Robot(
        Path(settings.work if in_zdb else settings.data).absolute(),
        task_timeout=settings.task_timeout,
        store=settings.data if in_zdb else None,
        workers=settings.workers,
    )
    for url in dict.fromkeys([*settings.template_repo, *robot.saved_repositories()]):
        try:
            robot.add_repository(url)
        except RobotError as exc:  # one repository down does not keep the others away
            robot.problems.append(str(exc))
            event(log, "repository_error", level=logging.WARNING, error=str(exc))
    robot.restore()
    return robot


def authentication(settings: RobotSettings) -> Auth | None:
    """Whom the robot trusts (None with --dev); RobotError when the settings say neither."""
    if settings.dev:
        return None
    if not settings.id or not settings.admin_org:
        raise RobotError(
            "zero-robot needs --id URL and --admin-org ORG (or --dev)",
            hint="--dev lets anyone who reaches its port do anything",
        )
    verifier = AsyncVerifier(settings.id, audience=settings.audience)
    return Auth(verifier, settings.admin_org, settings.user_org)


def run(settings: RobotSettings, announce: Callable[[str], None] = print) -> None:
    """Serve until SIGINT or SIGTERM; ``announce`` is told where."""
    auth = authentication(settings)
    robot = build(settings)
    try:
        sock = bind_tcp(settings.listen, settings.port)
    except OSError as exc:
        robot.close()
        raise RobotError(f"cannot listen on {settings.listen}:{settings.port}: {exc}") from exc
    ready = ReadyFile(settings.ready_file, "robot")
    where = format_hostport(settings.listen, sock.getsockname()[1])
    try:
        robot.start()
        config = uvicorn.Config(
            create_app(robot, auth),
            log_config=None,
            log_level="info" if settings.verbose else "warning",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)

        def stop_early() -> None:
            server.should_exit = True

        call_on_signals(stop_early)
        announce(f"zero-robot: http://{where} (OpenAPI: http://{where}/docs)")
        for line in robot.problems:
            announce(f"  problem: {line}")
        event(log, "listening", addresses=where)
        asyncio.run(_serve(server, sock, lambda: ready.write([where]), auth))
    finally:
        ready.remove()
        sock.close()
        robot.close()


async def _serve(
    server: uvicorn.Server, sock: socket.socket, on_ready: Callable[[], None], auth: Auth | None
) -> None:
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if server.started:
            on_ready()
        await serving
    finally:
        if auth is not None:
            await auth.verifier.aclose()
