"""The caller's own repository (``/api/flist/me/...``): uploads, links, renames, deletes."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from starlette.concurrency import run_in_threadpool

from ..deps import Caller, HubDep, bounded
from ..errors import BadRequest, HubError
from ..models import FlistEntry, Me, Success, Uploaded, UploadProgress
from ..names import check_flist, flist_name_for
from ..service import Hub
from ..uploads import receive, stream_archive

router = APIRouter(prefix="/api/flist/me", tags=["my repository"])
_FILE_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            }
        },
    }
}
_UPLOAD = bounded("upload")
_TEXT: dict[str, Any] = {"schema": {"type": "string"}}


@router.get("", response_model=Success[Me])
async def me(who: Caller) -> Success[Me]:
    """Who the token speaks for and the repository it acts in."""
    return Success(payload=who)


Kind = Literal["archive", "flist", "image"]
ProgressId = Annotated[
    str | None, Query(description="An id of your choice: GET /api/flist/me/progress/<id>")
]


async def convert(
    request: Request, who: Me, hub: Hub, kind: Kind, job: str | None
) -> Success[Uploaded]:
    """Make an flist of the upload: an archive converted as it arrives, an .fl or an image
    received first; with ``job``, how far both got is kept for the progress route."""
    repo = who.repository
    if job is not None:
        hub.jobs.start(repo, job, int(request.headers.get("content-length", 0)))
    received = partial(hub.jobs.received, repo, job or "")
    progress = partial(hub.jobs.processed, repo, job) if job else None
    path: Path | None = None
    try:
        if kind == "archive":
            report = await stream_archive(request, hub, repo, received, progress)
        else:
            make = hub.upload_flist if kind == "flist" else hub.upload_image
            filename, path = await receive(request, hub, ".fl" if kind == "flist" else ".tar",
                                           received)  # fmt: skip
            report = await run_in_threadpool(make, repo, flist_name_for(filename), path, progress)
    except HubError as exc:
        if job is not None:
            hub.jobs.finish(repo, job, str(exc))
        raise
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
    if job is not None:
        hub.jobs.finish(repo, job)
    return Success(payload=report)


@router.post(
    "/upload", response_model=Success[Uploaded], openapi_extra=_FILE_FORM, dependencies=[_UPLOAD]
)
async def upload(
    request: Request, who: Caller, hub: HubDep, progress: ProgressId = None
) -> Success[Uploaded]:
    """Turn a .tar.gz into an flist of the caller's repository (``app.tar.gz`` -> ``app.fl``)."""
    return await convert(request, who, hub, "archive", progress)


@router.post(
    "/upload-flist",
    response_model=Success[Uploaded],
    openapi_extra=_FILE_FORM,
    dependencies=[_UPLOAD],
)
async def upload_flist(
    request: Request, who: Caller, hub: HubDep, progress: ProgressId = None
) -> Success[Uploaded]:
    """Accept an .fl whose every block is in the hub's store already."""
    return await convert(request, who, hub, "flist", progress)


@router.post(
    "/image", response_model=Success[Uploaded], openapi_extra=_FILE_FORM, dependencies=[_UPLOAD]
)
async def image(
    request: Request, who: Caller, hub: HubDep, progress: ProgressId = None
) -> Success[Uploaded]:
    """Convert an OCI image archive or a ``docker save`` tarball into an flist."""
    return await convert(request, who, hub, "image", progress)


@router.post("/merge/{target}", response_model=Success[Uploaded])
async def merge(
    who: Caller,
    hub: HubDep,
    target: str,
    sources: Annotated[list[str], Body(max_length=64)],
) -> Success[Uploaded]:
    """Make ``target`` the merge of the flists listed in the body (``user/name.fl``)."""
    report = await run_in_threadpool(hub.merge, who.repository, check_flist(target), sources)
    return Success(payload=report)


@router.get("/promote/{repo}/{file}/{localname}", response_model=Success[FlistEntry])
async def promote(
    who: Caller, hub: HubDep, repo: str, file: str, localname: str
) -> Success[FlistEntry]:
    """Copy ``repo/file`` into the caller's repository as ``localname``."""
    entry = await run_in_threadpool(hub.repos.promote, who.repository, repo, file, localname)
    return Success(payload=entry)


@router.get("/{source}/link/{linkname}", response_model=Success[FlistEntry])
async def link(who: Caller, hub: HubDep, source: str, linkname: str) -> Success[FlistEntry]:
    """Make ``linkname`` a link to the caller's ``source``."""
    entry = await run_in_threadpool(hub.repos.link, who.repository, source, linkname)
    return Success(payload=entry)


@router.get("/{source}/rename/{dest}", response_model=Success[FlistEntry])
async def rename(who: Caller, hub: HubDep, source: str, dest: str) -> Success[FlistEntry]:
    """Rename one of the caller's flists."""
    entry = await run_in_threadpool(hub.repos.rename, who.repository, source, check_flist(dest))
    return Success(payload=entry)


@router.post(
    "/{name}/readme",
    response_model=Success[str],
    dependencies=[bounded("readme")],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/markdown": {"schema": {"type": "string"}}},
        }
    },
)
async def readme(request: Request, who: Caller, hub: HubDep, name: str) -> Success[str]:
    """Set the readme (markdown, the request body) of one of the caller's flists."""
    try:
        text = (await request.body()).decode()
    except UnicodeDecodeError as exc:
        raise BadRequest("the readme must be UTF-8 text") from exc
    await run_in_threadpool(hub.repos.set_readme, who.repository, name, text)
    return Success(payload=f"{who.repository}/{name}")


@router.get("/progress/{job}", response_model=Success[UploadProgress])
async def progress(who: Caller, hub: HubDep, job: str) -> Success[UploadProgress]:
    """Where the caller's upload ``job`` (its ``?progress=`` id) stands."""
    return Success(payload=hub.jobs.get(who.repository, job))


@router.get("/{name}", response_model=Success[FlistEntry])
async def mine(who: Caller, hub: HubDep, name: str) -> Success[FlistEntry]:
    """One of the caller's flists."""
    return Success(payload=await run_in_threadpool(hub.repos.entry, who.repository, name))


@router.delete("/{name}", response_model=Success[str])
async def delete(who: Caller, hub: HubDep, name: str) -> Success[str]:
    """Delete one of the caller's flists (or links)."""
    await run_in_threadpool(hub.repos.delete, who.repository, name)
    return Success(payload=f"{who.repository}/{name}")
