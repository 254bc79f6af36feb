"""The web site: server-rendered pages (jinja2), usable without JavaScript.

Front page (search, recent flists, repositories), a repository, an flist (contents, readme,
how to use it), the upload form and the login through zero-id, which keeps the token in an
HttpOnly, SameSite=Strict cookie (so other sites' forms cannot use it).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from ...common.http import AsyncJsonClient
from ...identity.client import API as ZERO_ID
from ...identity.client import Unreachable
from ...identity.errors import IdentityError
from ..deps import TOKEN_COOKIE, Caller, HubDep, Visitor, bounded, get_verifier
from ..errors import HubError, NotFound
from ..models import Me
from . import me as mine

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
templates.env.filters["when"] = lambda t: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))
_LOGIN_TIMEOUT = 15.0


def page(
    request: Request, template: str, me: Me | None, status: int = 200, **values: Any
) -> Response:
    """One page rendered with the caller (for the header) and ``values``."""
    return templates.TemplateResponse(request, template, {"me": me, **values}, status_code=status)


@router.get("/", response_class=HTMLResponse)
async def front(request: Request, hub: HubDep, me: Visitor, q: str | None = None) -> Response:
    found = await run_in_threadpool(hub.repos.everything, q) if q else []
    return page(
        request,
        "index.html",
        me,
        q=q,
        found=found,
        recent=await run_in_threadpool(hub.repos.recent),
        repositories=await run_in_threadpool(hub.repos.users),
    )


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, me: Visitor) -> Response:
    return page(request, "login.html", me)


@router.post("/login", dependencies=[bounded("readme")])
async def login(request: Request) -> Response:
    """Ask zero-id for a token (password grant) and keep it in the login cookie."""
    form = await request.form(max_files=0, max_fields=5)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    org = str(form.get("org", "")).strip()
    scope = "user:admin" + (f",user:memberof:{org}" if org else "")
    id_url = get_verifier(request).url
    grant = {"grant_type": "password", "username": username, "password": password, "scope": scope}
    zero_id = AsyncJsonClient(id_url, ZERO_ID, timeout=_LOGIN_TIMEOUT)
    try:
        body = await zero_id.call("POST", "/v1/oauth/access_token", data=grant)
    except Unreachable as exc:
        return page(request, "login.html", None, 503, error=str(exc))
    except IdentityError:
        return page(request, "login.html", None, 401, error="wrong user name or password")
    finally:
        await zero_id.aclose()
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        return page(request, "login.html", None, 502, error="zero-id answered without a token")
    response = RedirectResponse("/", status_code=303)
    age = int(body.get("expires_in", 3600))
    response.set_cookie(TOKEN_COOKIE, body["access_token"], max_age=age, httponly=True,
                        samesite="strict")  # fmt: skip
    if org:
        response.set_cookie("active-user", org, max_age=age, httponly=True, samesite="strict")
    else:
        response.delete_cookie("active-user")
    return response


@router.get("/logout")
async def logout() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(TOKEN_COOKIE)
    response.delete_cookie("active-user")
    return response


@router.get("/upload", response_class=HTMLResponse)
async def upload_form(request: Request, me: Visitor) -> Response:
    return page(request, "upload.html", me, job=secrets.token_hex(8))


@router.post("/upload", dependencies=[bounded("upload")])
async def upload(
    request: Request,
    who: Caller,
    hub: HubDep,
    kind: mine.Kind = "archive",
    progress: Annotated[str | None, Query()] = None,
) -> Response:
    """The upload form's target: on success, the new flist's page."""
    try:
        done = await mine.convert(request, who, hub, kind, progress)
    except HubError as exc:
        return page(request, "upload.html", who, exc.status, error=str(exc),
                    job=secrets.token_hex(8))  # fmt: skip
    return RedirectResponse(f"/{done.payload.flist}.html", status_code=303)


@router.get("/{user}", response_class=HTMLResponse)
async def repository(request: Request, hub: HubDep, me: Visitor, user: str) -> Response:
    entries = await run_in_threadpool(hub.repos.entries, user)
    tags = await run_in_threadpool(hub.repos.tags, user)
    return page(request, "repository.html", me, user=user, entries=entries, tags=tags)


@router.get("/{user}/{name}.html", response_class=HTMLResponse)
async def flist(request: Request, hub: HubDep, me: Visitor, user: str, name: str) -> Response:
    light = await run_in_threadpool(hub.repos.light, user, name)
    contents = await run_in_threadpool(hub.contents, user, name)
    try:
        readme = await run_in_threadpool(hub.repos.readme, user, name)
    except NotFound:
        readme = None
    return page(request, "flist.html", me, user=user, name=name, light=light,
                contents=contents, readme=readme)  # fmt: skip
