"""zero-robot's FastAPI application: its routers, and errors as ``{"message": ...}``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .deps import Auth
from .engine import Robot
from .errors import RobotError
from .routes import blueprints, logs, robot, services, tasks, templates, webhooks


async def _robot_error(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status if isinstance(exc, RobotError) else 500
    return JSONResponse({"message": str(exc)}, status_code=status)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, HTTPException):
        return JSONResponse({"message": "internal error"}, status_code=500)
    return JSONResponse({"message": str(exc.detail)}, exc.status_code, headers=exc.headers)


async def _bad_input(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return JSONResponse({"message": f"{where}: {first.get('msg', 'bad request')}"}, 400)


def create_app(bot: Robot, auth: Auth | None, webhook_secret: str | None = None) -> FastAPI:
    """The robot's application over ``bot``; ``auth`` None lets every caller do everything;
    webhooks are taken when signed with ``webhook_secret`` (refused without one)."""
    app = FastAPI(
        title="zero-robot",
        description="Templates from git, services with task lists, blueprints (0-robot's routes).",
        version="1.0",
    )
    app.state.robot = bot
    app.state.auth = auth
    app.state.webhook_secret = webhook_secret
    app.add_exception_handler(RobotError, _robot_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _bad_input)
    for module in (robot, templates, services, tasks, logs, blueprints, webhooks):
        app.include_router(module.router)
    return app
