"""The public listing routes: every flist, the repositories, one repository, one flist."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from ..deps import HubDep
from ..models import FlistContents, FlistEntry, FlistLight, RepositoryInfo, Success

router = APIRouter(prefix="/api", tags=["public"])


@router.get("/flist", response_model=Success[list[str]])
async def all_flists(hub: HubDep, q: str | None = None) -> Success[list[str]]:
    """Every flist of the hub as ``user/name.fl``; ``q`` keeps those whose name holds it."""
    return Success(payload=await run_in_threadpool(hub.repos.everything, q))


@router.get("/repositories", response_model=Success[list[RepositoryInfo]])
async def repositories(hub: HubDep) -> Success[list[RepositoryInfo]]:
    """Every repository holding flists."""
    return Success(payload=await run_in_threadpool(hub.repos.users))


@router.get("/flist/{user}", response_model=Success[list[FlistEntry]])
async def repository(hub: HubDep, user: str) -> Success[list[FlistEntry]]:
    """The flists of one repository: name, size, updated, type and a link's target."""
    return Success(payload=await run_in_threadpool(hub.repos.entries, user))


@router.get("/flist/{user}/{name}", response_model=Success[FlistContents])
async def contents(hub: HubDep, user: str, name: str) -> Success[FlistContents]:
    """What one flist holds: its tree and its tags."""
    return Success(payload=await run_in_threadpool(hub.contents, user, name))


@router.get("/flist/{user}/{name}/light", response_model=Success[FlistLight])
async def light(hub: HubDep, user: str, name: str) -> Success[FlistLight]:
    """One flist's metadata: name, size, updated, md5 and blake2b."""
    return Success(payload=await run_in_threadpool(hub.repos.light, user, name))
