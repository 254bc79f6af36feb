"""The flists themselves at ``/<user>/<name>.fl``, and beside them ``.md``, ``.txt``,
``.json`` and ``.md5``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ..deps import HubDep
from ..errors import NotFound

router = APIRouter(tags=["files"])
_VIEWS = (".md5", ".json", ".txt", ".md")


@router.get(
    "/{user}/{file}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}, "text/plain": {}}}},
)
async def flist_file(hub: HubDep, user: str, file: str) -> Response:
    """``name.fl``: the flist; ``name.fl.md``: its readme; ``.txt``: its listing, one path a
    line; ``.json``: its contents as JSON; ``.md5``: its md5."""
    view = next((v for v in _VIEWS if file.endswith(v)), "")
    name = file[: -len(view)] if view else file
    if not name.endswith(".fl"):
        raise NotFound(f"{user}/{file} not found")
    if view == "":
        path = await run_in_threadpool(hub.repos.path, user, name)
        return FileResponse(path, media_type="application/octet-stream", filename=name)
    if view == ".md":
        return PlainTextResponse(
            await run_in_threadpool(hub.repos.readme, user, name), media_type="text/markdown"
        )
    if view == ".md5":
        light = await run_in_threadpool(hub.repos.light, user, name)
        return PlainTextResponse(light.md5 + "\n")
    contents = await run_in_threadpool(hub.contents, user, name)
    if view == ".json":
        return JSONResponse(contents.model_dump())
    return PlainTextResponse("".join(f"{e.path}\n" for e in contents.entries))
