"""``/templates``: the templates loaded, and adding a repository of them."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import AccessDep, RobotDep
from ..engine import template_info
from ..models import RepositoryAdd, TemplateInfo, TemplateLoad

router = APIRouter(prefix="/templates", tags=["templates"])


@router.get("")
def list_templates(robot: RobotDep, caller: AccessDep) -> list[TemplateInfo]:
    """Every template the robot can instantiate."""
    return robot.template_list()


@router.post("", status_code=201)
def add_repository(robot: RobotDep, caller: AccessDep, repo: RepositoryAdd) -> TemplateLoad:
    """Load the templates of a git repository (or a folder on the robot's host); admins only."""
    caller.require_admin()
    loaded = robot.add_repository(repo.url, repo.branch)
    robot.save_repositories()
    return TemplateLoad(
        templates=[template_info(c) for c in loaded.templates.values()], errors=loaded.errors
    )
