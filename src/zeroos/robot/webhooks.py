"""GitHub-style push webhooks: the signature check and which repositories a push concerns.

GitHub signs the body with the hook's secret (``X-Hub-Signature-256: sha256=<hex HMAC>``) and
names the repository by several URLs (``clone_url``, ``ssh_url``, ``git_url``, ``html_url``);
a push re-pulls every repository of the robot that one of them names, on the branch pushed.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from .errors import BadRequest, Unauthorized
from .git import SCP, split_ref


class PushRepository(BaseModel):
    """The repository of a push, as GitHub (and Gitea, GitLab's compatible hooks) names it."""

    clone_url: str | None = None
    ssh_url: str | None = None
    git_url: str | None = None
    html_url: str | None = None
    url: str | None = None


class PushEvent(BaseModel):
    """What a push webhook tells: the ref pushed and the repository."""

    ref: str = Field(min_length=1)
    repository: PushRepository


class WebhookResult(BaseModel):
    """What a webhook did: the repositories pulled again, and their templates' load errors."""

    event: str
    updated: list[str]
    errors: list[str] = Field(default_factory=list)


def check_signature(secret: str, body: bytes, signature: str | None) -> None:
    """Unauthorized unless ``signature`` is ``sha256=`` the HMAC of ``body`` with ``secret``."""
    if not signature:
        raise Unauthorized("a webhook needs its X-Hub-Signature-256 header")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.strip()):
        raise Unauthorized("the webhook's X-Hub-Signature-256 does not match its body")


def same_place(url: str) -> str:
    """A repository URL reduced to what names the repository: ``host/path`` (no scheme, user,
    port, ``.git`` or trailing slash), or the resolved path of a local one."""
    if url.startswith("file://") or url.startswith("/"):
        return str(Path(url.removeprefix("file://")).resolve()).removesuffix(".git")
    if "://" in url:
        parts = urlsplit(url)
        return f"{parts.hostname}/{parts.path.strip('/').removesuffix('.git')}"
    match = SCP.match(url)
    if match:
        return f"{match.group(1)}/{match.group(2).strip('/').removesuffix('.git')}"
    return url


def pushed_repositories(event: PushEvent, repositories: dict[str, str | None]) -> list[str]:
    """The robot's repositories (as added: ``url[#ref]`` -> the branch their checkout is on)
    that ``event`` pushed to."""
    named = {
        same_place(u) for u in event.repository.model_dump().values() if isinstance(u, str) and u
    }
    branch = event.ref.removeprefix("refs/heads/")
    out = []
    for name, checked_out in repositories.items():
        location, ref = split_ref(name)
        if same_place(location) in named and (ref or checked_out) in (branch, event.ref):
            out.append(name)
    return out


def parse_push(body: bytes) -> PushEvent:
    """The push event in ``body``; BadRequest naming what is missing."""
    try:
        return PushEvent.model_validate_json(body)
    except ValueError as exc:
        errors: list[Any] = getattr(exc, "errors", list)()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise BadRequest(f"not a push event: {where}: {first.get('msg', exc)}") from exc
