"""``/services/{guid}/logs``: what a service's actions logged."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import AccessDep, RobotDep, service_for
from ..models import LogLine

router = APIRouter(prefix="/services/{guid}/logs", tags=["logs"])


@router.get("")
def service_logs(
    robot: RobotDep, caller: AccessDep, guid: str, task: str | None = None
) -> list[LogLine]:
    """The last lines (1,000 at most, oldest first) the service's actions logged through
    ``self.logger``, each with its task; only task ``task``'s when given."""
    service_for(robot, caller, guid)
    return robot.logs(guid, task)
