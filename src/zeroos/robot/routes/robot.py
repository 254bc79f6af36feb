"""``/robot``: what this robot is and holds."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import AccessDep, RobotDep
from ..models import RobotInfo

router = APIRouter(tags=["robot"])


@router.get("/robot")
def robot_info(robot: RobotDep, caller: AccessDep) -> RobotInfo:
    """The robot's version, counts of services and templates, repositories, load errors."""
    return robot.info()
