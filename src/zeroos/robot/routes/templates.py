"""``/templates``: the templates loaded, and adding a repository of them."""

from __future__ import annotations

from fastapi import APIRouter

from ..catalog import template_info
from ..deps import AccessDep, RobotDep
from ..loader import Loaded
from ..models import RepositoryAdd, RepositoryCheckout, RepositoryUpdate, TemplateInfo, TemplateLoad

router = APIRouter(prefix="/templates", tags=["templates"])


@router.get("")
def list_templates(robot: RobotDep, caller: AccessDep) -> list[TemplateInfo]:
    """Every template the robot can instantiate."""
    return robot.catalog.template_list()


@router.post("", status_code=201)
def add_repository(robot: RobotDep, caller: AccessDep, repo: RepositoryAdd) -> TemplateLoad:
    """Load the templates of a git repository (or a folder on the robot's host); admins only."""
    caller.require_admin()
    loaded = robot.catalog.add_repository(repo.url, repo.branch)
    robot.catalog.save_repositories()
    return _answer(loaded)


@router.post("/update")
def update_repositories(robot: RobotDep, caller: AccessDep, ask: RepositoryUpdate) -> TemplateLoad:
    """Pull a repository again (every one without ``url``) and reload its templates; admins
    only. Services run their next tasks with the new code."""
    caller.require_admin()
    return _answer(robot.update_repository(ask.url))


@router.post("/checkout")
def checkout_repository(
    robot: RobotDep, caller: AccessDep, ask: RepositoryCheckout
) -> TemplateLoad:
    """Load a repository (``url`` as listed by ``GET /robot``) at another branch, tag or
    commit; admins only."""
    caller.require_admin()
    loaded = robot.checkout_repository(ask.url, ask.ref)
    robot.catalog.save_repositories()
    return _answer(loaded)


def _answer(loaded: Loaded) -> TemplateLoad:
    return TemplateLoad(
        templates=[template_info(c) for c in loaded.templates.values()], errors=loaded.errors
    )
