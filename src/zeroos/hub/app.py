"""zero-hub's FastAPI application: the routers in order, and 0-hub's error envelope."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..identity import AsyncVerifier
from .errors import HubError
from .models import Failure
from .routes import files, me, pages, public, tags
from .service import Hub


def _failure(status: int, message: str) -> JSONResponse:
    return JSONResponse(Failure(message=message).model_dump(), status_code=status)


async def _hub_error(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status if isinstance(exc, HubError) else 500
    return _failure(status, str(exc))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, HTTPException):
        return _failure(500, "internal error")
    return _failure(exc.status_code, str(exc.detail))


async def _bad_input(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return _failure(400, f"{where}: {first.get('msg', 'bad request')}")


def create_app(hub: Hub, verifier: AsyncVerifier) -> FastAPI:
    """The hub's application over ``hub``, trusting tokens ``verifier`` accepts."""
    app = FastAPI(
        title="zero-hub",
        description="Where flists are uploaded, found and served (0-hub's routes and envelope).",
        version="1.0",
    )
    app.state.hub = hub
    app.state.verifier = verifier
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _bad_input)
    # /api/flist/me/... before the public /api/flist/<user>/...; the files' catch-all last
    app.include_router(tags.router)
    app.include_router(me.router)
    app.include_router(public.router)
    app.include_router(pages.router)
    app.include_router(files.router)
    return app
