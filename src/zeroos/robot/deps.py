"""What routes ask FastAPI for: the robot."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .engine import Robot


def get_robot(request: Request) -> Robot:
    robot: Robot = request.app.state.robot
    return robot


RobotDep = Annotated[Robot, Depends(get_robot)]
