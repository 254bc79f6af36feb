"""Tags: named groups of links to flists of any repository (0-hub's ``.../tag/...`` routes)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from ..deps import Caller, HubDep
from ..models import Success

router = APIRouter(tags=["tags"])


@router.get(
    "/api/flist/me/{tag}/{name}/tag/{repo}/{source}", response_model=Success[dict[str, str]]
)
async def add(
    who: Caller, hub: HubDep, tag: str, name: str, repo: str, source: str
) -> Success[dict[str, str]]:
    """Make ``name`` in the caller's tag ``tag`` a link to ``repo/source``."""
    await run_in_threadpool(hub.repos.tag, who.repository, tag, name, repo, source)
    tags = await run_in_threadpool(hub.repos.tags, who.repository)
    return Success(payload=tags[tag])


@router.delete("/api/flist/me/{tag}/{name}/tag", response_model=Success[str])
async def remove(who: Caller, hub: HubDep, tag: str, name: str) -> Success[str]:
    """Take ``name`` out of the caller's tag ``tag`` (an empty tag is gone)."""
    await run_in_threadpool(hub.repos.untag, who.repository, tag, name)
    return Success(payload=f"{who.repository}/{tag}/{name}")


@router.get("/api/tags/{user}", response_model=Success[dict[str, dict[str, str]]])
async def listing(hub: HubDep, user: str) -> Success[dict[str, dict[str, str]]]:
    """Every tag of a repository: tag -> {link name: ``user/name.fl``}."""
    return Success(payload=await run_in_threadpool(hub.repos.tags, user))
