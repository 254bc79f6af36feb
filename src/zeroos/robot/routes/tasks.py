"""``/services/{guid}/task_list``: a service's tasks, and scheduling one."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import AccessDep, RobotDep, service_for
from ..models import Task, TaskCreate, TaskState

router = APIRouter(prefix="/services/{guid}/task_list", tags=["tasks"])


@router.get("")
def list_tasks(
    robot: RobotDep, caller: AccessDep, guid: str, state: TaskState | None = None
) -> list[Task]:
    """The service's task list (only tasks in ``state`` when given)."""
    service_for(robot, caller, guid)
    return robot.tasks(guid, state)


@router.post("", status_code=201)
def add_task(robot: RobotDep, caller: AccessDep, guid: str, ask: TaskCreate) -> Task:
    """Schedule ``action_name(**args)`` on the service."""
    service_for(robot, caller, guid)
    return robot.schedule(guid, ask.action_name, ask.args)


@router.get("/{task_guid}")
def get_task(robot: RobotDep, caller: AccessDep, guid: str, task_guid: str) -> Task:
    """One task: its state, result or error, and timing."""
    service_for(robot, caller, guid)
    return robot.task(guid, task_guid)
