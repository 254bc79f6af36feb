"""``/webhooks``: a signed git push re-pulls the repositories it concerns."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

from ..deps import RobotDep
from ..engine import Robot
from ..errors import Forbidden
from ..git import current_branch
from ..webhooks import PushEvent, WebhookResult, check_signature, parse_push, pushed_repositories

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PushEvent.model_json_schema()}},
    }
}


@router.post("/github", openapi_extra=_BODY)
async def github_webhook(
    robot: RobotDep,
    request: Request,
    x_github_event: Annotated[str, Header()] = "push",
    x_hub_signature_256: Annotated[str | None, Header()] = None,
) -> WebhookResult:
    """A GitHub-style webhook signed with ``--webhook-secret``: ``push`` re-pulls the
    repositories it names (on the branch pushed), ``ping`` is answered."""
    secret: str | None = request.app.state.webhook_secret
    if not secret:
        raise Forbidden("this robot takes no webhooks: start it with --webhook-secret")
    body = await request.body()
    check_signature(secret, body, x_hub_signature_256)
    if x_github_event != "push":
        return WebhookResult(event=x_github_event, updated=[])
    event = parse_push(body)
    names = pushed_repositories(event, await run_in_threadpool(_branches, robot))
    errors: list[str] = []
    for name in names:
        loaded = await run_in_threadpool(robot.update_repository, name)
        errors.extend(loaded.errors)
    return WebhookResult(event="push", updated=names, errors=errors)


def _branches(robot: Robot) -> dict[str, str | None]:
    """Each repository of the robot, and the branch its checkout is on."""
    return {name: current_branch(Path(where)) for name, where in robot.catalog.repositories.items()}
