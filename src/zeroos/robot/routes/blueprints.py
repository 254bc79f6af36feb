"""``/blueprints``: create a blueprint's services, then schedule its actions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ..blueprint import parse_yaml
from ..deps import AccessDep, RobotDep
from ..errors import BadRequest
from ..models import Blueprint, BlueprintResult

router = APIRouter(prefix="/blueprints", tags=["blueprints"])
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": Blueprint.model_json_schema()},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


@router.post("", status_code=201, openapi_extra=_BODY)
async def apply_blueprint(robot: RobotDep, caller: AccessDep, request: Request) -> BlueprintResult:
    """A blueprint as YAML (``application/yaml``) or as JSON ``{"content": {...}}``."""
    body = (await request.body()).decode(errors="replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            content = Blueprint.model_validate_json(body).content
        except ValueError as exc:
            raise BadRequest(f"the blueprint is not {{'content': {{...}}}}: {exc}") from exc
    else:
        content = parse_yaml(body)
    return await run_in_threadpool(robot.blueprint, content, caller.owner())
