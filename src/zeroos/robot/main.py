"""``run(settings)``: zero-robot with its templates and services, until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ..common.asgi import AsgiServer
from ..common.log import event
from ..common.service import listen_tcp
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
    if settings.builtin:
        robot.catalog.add_builtin()
    for url in dict.fromkeys([*settings.template_repo, *robot.catalog.saved_repositories()]):
        try:
            robot.catalog.add_repository(url)
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
        sock = listen_tcp(settings.listen, settings.port, RobotError)
    except RobotError:
        robot.close()
        raise
    try:
        robot.start()
        server = AsgiServer(
            create_app(
                robot,
                auth,
                settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
            ),
            sock,
            part="robot",
            ready_file=settings.ready_file,
            verbose=settings.verbose,
            on_stop=auth.verifier.aclose if auth is not None else None,
        )
        announce(f"zero-robot: http://{server.where} (OpenAPI: http://{server.where}/docs)")
        for line in robot.problems:
            announce(f"  problem: {line}")
        event(log, "listening", addresses=server.where)
        server.run()
    finally:
        sock.close()
        robot.close()
