"""What routes ask FastAPI for: the hub, the caller behind a zero-id token, a bounded body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Cookie, Depends, Header, Request

from ..identity import AsyncVerifier, InvalidToken
from ..identity.verify import bearer
from .errors import Forbidden, LengthRequired, TooLarge, Unauthorized
from .models import Me
from .names import check_user
from .service import Hub

MEMBEROF = "user:memberof:"
TOKEN_COOKIE = "zerohub-token"  # noqa: S105 - a cookie name, not a secret; the web pages' login keeps the JWT here (HttpOnly)


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def get_verifier(request: Request) -> AsyncVerifier:
    verifier: AsyncVerifier = request.app.state.verifier
    return verifier


async def caller(
    verifier: Annotated[AsyncVerifier, Depends(get_verifier)],
    authorization: Annotated[str | None, Header()] = None,
    active_user: Annotated[str | None, Header(alias="active-user")] = None,
    active_user_cookie: Annotated[str | None, Cookie(alias="active-user")] = None,
    token_cookie: Annotated[str | None, Cookie(alias=TOKEN_COOKIE)] = None,
) -> Me:
    """Who calls (``Authorization: bearer <JWT>``) and the repository it acts in.

    ``active-user`` (header or cookie, as 0-hub) picks an organisation's repository; the token
    must then hold ``user:memberof:<org>``.
    """
    try:
        token = bearer(authorization) if authorization or not token_cookie else token_cookie
        claims = await verifier.verify(token)
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from exc
    username = claims.get("username")
    if not isinstance(username, str):
        raise Forbidden("this token speaks for no user (an organisation's API key?)")
    wanted = active_user or active_user_cookie or username
    if wanted != username and f"{MEMBEROF}{wanted}" not in (claims.get("scope") or []):
        raise Forbidden(
            f"{username} may not act as {wanted!r}: the token needs scope {MEMBEROF}{wanted}"
        )
    return Me(username=username, repository=check_user(wanted))


async def maybe_caller(
    verifier: Annotated[AsyncVerifier, Depends(get_verifier)],
    active_user_cookie: Annotated[str | None, Cookie(alias="active-user")] = None,
    token_cookie: Annotated[str | None, Cookie(alias=TOKEN_COOKIE)] = None,
) -> Me | None:
    """The web pages' caller (from the login cookie), or None for a visitor."""
    if not token_cookie:
        return None
    try:
        return await caller(verifier, None, None, active_user_cookie, token_cookie)
    except (Unauthorized, Forbidden):
        return None


def bounded(limit_of: str) -> Any:
    """A dependency refusing a body without a Content-Length or longer than a hub limit."""

    def check(request: Request, hub: Annotated[Hub, Depends(get_hub)]) -> int:
        limit = int(getattr(hub.limits, limit_of))
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            raise LengthRequired("the upload needs a Content-Length")
        if int(length) > limit:
            raise TooLarge(f"the upload is {int(length)} bytes; this hub takes at most {limit}")
        return int(length)

    return Depends(check)


Caller = Annotated[Me, Depends(caller)]
HubDep = Annotated[Hub, Depends(get_hub)]
Visitor = Annotated[Me | None, Depends(maybe_caller)]
