"""What routes ask FastAPI for: the robot, and who calls (a zero-id JWT or a service secret).

``Authorization: bearer <JWT>``: a token holding ``user:memberof:<admin-org>`` may do
everything; one holding ``user:memberof:<user-org>`` may create services and act on its own.
``ZrobotSecret: <secret>`` (the secret a service was created with) opens that service alone.
With ``--dev`` every caller is an admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from ..identity import AsyncVerifier, InvalidToken
from ..identity.verify import bearer
from .engine import Robot
from .errors import Forbidden, NotFound, Unauthorized
from .models import Service

MEMBEROF = "user:memberof:"


@dataclass(frozen=True)
class Auth:
    """Whom the robot trusts: zero-id's verifier and the two organisations (None: --dev)."""

    verifier: AsyncVerifier
    admin_org: str
    user_org: str | None


@dataclass(frozen=True)
class Access:
    """Who calls: an admin, a user of the user-org, and the service secrets shown."""

    admin: bool = False
    user: str | None = None
    secrets: tuple[str, ...] = ()

    def may(self, robot: Robot, service: Service) -> bool:
        """Whether this caller may see and act on ``service``."""
        return (
            self.admin
            or (self.user is not None and service.owner == self.user)
            or any(robot.secret_opens(service.guid, s) for s in self.secrets)
        )

    def owner(self) -> str | None:
        """Who owns what this caller creates (None for an admin); Forbidden for a secret."""
        if self.admin:
            return None
        if self.user is None:
            raise Forbidden("a service secret opens its service only: creating needs a token")
        return self.user

    def require_admin(self) -> None:
        """Forbidden unless the caller is an admin."""
        if not self.admin:
            raise Forbidden("only members of the robot's admin organisation may do this")


def get_robot(request: Request) -> Robot:
    robot: Robot = request.app.state.robot
    return robot


async def access(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    zrobot_secret: Annotated[str | None, Header(alias="ZrobotSecret")] = None,
) -> Access:
    """Who calls, from the Authorization and ZrobotSecret headers."""
    auth: Auth | None = request.app.state.auth
    if auth is None:
        return Access(admin=True)
    shown = tuple((zrobot_secret or "").split())
    if authorization is None:
        if not shown:
            raise Unauthorized("this needs Authorization: bearer <JWT> or a ZrobotSecret header")
        return Access(secrets=shown)
    try:
        claims = await auth.verifier.verify(bearer(authorization))
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from exc
    scope = claims.get("scope") or []
    username = claims.get("username")
    if f"{MEMBEROF}{auth.admin_org}" in scope:
        return Access(admin=True, user=username if isinstance(username, str) else None)
    if auth.user_org and f"{MEMBEROF}{auth.user_org}" in scope and isinstance(username, str):
        return Access(user=username, secrets=shown)
    if shown:
        return Access(secrets=shown)
    orgs = auth.admin_org + (f" or {auth.user_org}" if auth.user_org else "")
    raise Forbidden(f"the token needs scope {MEMBEROF}<org> for {orgs}")


RobotDep = Annotated[Robot, Depends(get_robot)]
AccessDep = Annotated[Access, Depends(access)]


def service_for(robot: Robot, caller: Access, guid: str) -> Service:
    """Service ``guid`` if the caller may act on it; NotFound otherwise (its existence hidden)."""
    service = robot.get(guid)
    if not caller.may(robot, service):
        raise NotFound(f"no service {guid}")
    return service
