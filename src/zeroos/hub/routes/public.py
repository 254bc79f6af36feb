"""The public listing routes: every flist, the repositories, one repository, one flist."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from ..deps import HubDep
from ..models import FlistContents, FlistEntry, FlistLight, RepositoryInfo, Success

router = APIRouter(prefix="/api", tags=["public"])


class _Bodies:
    """Listings' JSON answers, kept while the repositories hand out the same list object
    (they keep a listing until it changes): 10,000 entries are not encoded per request."""

    def __init__(self, model: Any) -> None:
        self._adapter = TypeAdapter(model)
        self._kept: dict[str, tuple[object, bytes]] = {}
        self._lock = threading.Lock()

    def answer(self, key: str | None, payload: object) -> Response:
        """The answer holding ``payload``; ``key``: what it lists (None: not to be kept)."""
        with self._lock:
            kept = self._kept.get(key) if key is not None else None
        if kept is None or kept[0] is not payload:
            body = self._adapter.dump_json(self._adapter.validate_python({"payload": payload}))
            if key is None:
                return Response(body, media_type="application/json")
            with self._lock:
                self._kept[key] = (payload, body)
                if len(self._kept) > _KEEP_BODIES:
                    self._kept.pop(next(iter(self._kept)))
            kept = (payload, body)
        return Response(kept[1], media_type="application/json")


_KEEP_BODIES = 1000
_names = _Bodies(Success[list[str]])
_entries = _Bodies(Success[list[FlistEntry]])


@router.get("/flist", response_model=Success[list[str]])
async def all_flists(hub: HubDep, q: str | None = None) -> Response:
    """Every flist of the hub as ``user/name.fl``; ``q`` keeps those whose name holds it."""
    found = await run_in_threadpool(hub.repos.everything, q)
    return _names.answer(None if q else "", found)


@router.get("/repositories", response_model=Success[list[RepositoryInfo]])
async def repositories(hub: HubDep) -> Success[list[RepositoryInfo]]:
    """Every repository holding flists."""
    return Success(payload=await run_in_threadpool(hub.repos.users))


@router.get("/flist/{user}", response_model=Success[list[FlistEntry]])
async def repository(hub: HubDep, user: str) -> Response:
    """The flists of one repository: name, size, updated, type and a link's target."""
    return _entries.answer(user, await run_in_threadpool(hub.repos.entries, user))


@router.get("/flist/{user}/{name}", response_model=Success[FlistContents])
async def contents(hub: HubDep, user: str, name: str) -> Success[FlistContents]:
    """What one flist holds: its tree and its tags."""
    return Success(payload=await run_in_threadpool(hub.contents, user, name))


@router.get("/flist/{user}/{name}/light", response_model=Success[FlistLight])
async def light(hub: HubDep, user: str, name: str) -> Success[FlistLight]:
    """One flist's metadata: name, size, updated, md5 and blake2b."""
    return Success(payload=await run_in_threadpool(hub.repos.light, user, name))
