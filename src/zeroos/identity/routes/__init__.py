"""zero-id's HTTP routes (FastAPI), one router per resource. Each route's docstring says who
may call it.

Callers prove who they are with ``Authorization: bearer <JWT>`` (or ItsYou.Online's
``token <JWT>``), read once by :mod:`.deps`; the rules themselves live in
:mod:`zeroos.identity.service`.
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import IdentityError
from ..oauth import TokenEndpoint, error_response, invalid_response
from ..service import Identity
from . import admin, apikeys, discovery, oauth, organizations, users


async def _identity_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, IdentityError):
        raise exc
    return error_response(exc)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        raise exc
    # never echo the input back: it may hold a password
    problems = []
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        problems.append({"loc": where, "msg": str(err.get("msg", "invalid"))})
    return invalid_response(problems)


def create_api(identity: Identity, token: TokenEndpoint) -> FastAPI:
    """The FastAPI app with every route (the token endpoint's for its OpenAPI description)."""
    app = FastAPI(
        title="zero-id",
        version="1",
        description="Users, organisations, API keys and ES384 JWTs for the Zero-OS grid "
        "(ItsYou.Online's routes). See docs/identity.md.",
    )
    app.state.identity = identity
    app.state.token = token
    app.add_exception_handler(IdentityError, _identity_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.include_router(discovery.router)
    app.include_router(oauth.router)
    app.include_router(oauth.jwt_router(identity.settings.max_validity))
    app.include_router(users.router)
    app.include_router(apikeys.router)
    app.include_router(organizations.router)
    app.include_router(admin.router)
    return app


__all__ = ["create_api"]
