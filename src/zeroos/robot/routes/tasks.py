"""``/services/{guid}/task_list``: a service's tasks, and scheduling one."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import RobotDep
from ..models import Task, TaskCreate, TaskState

router = APIRouter(prefix="/services/{guid}/task_list", tags=["tasks"])


@router.get("")
def list_tasks(robot: RobotDep, guid: str, state: TaskState | None = None) -> list[Task]:
    """The service's task list (only tasks in ``state`` when given)."""
    return robot.tasks(guid, state)


@router.post("", status_code=201)
def add_task(robot: RobotDep, guid: str, ask: TaskCreate) -> Task:
    """Schedule ``action_name(**args)`` on the service."""
    return robot.schedule(guid, ask.action_name, ask.args)


@router.get("/{task_guid}")
def get_task(robot: RobotDep, guid: str, task_guid: str) -> Task:
    """One task: its state, result or error, and timing."""
    return robot.task(guid, task_guid)
