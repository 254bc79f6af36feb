"""What a repository (user) and an flist may be called: checked before any path is built."""

from __future__ import annotations

import re
from typing import Final

from .errors import BadRequest

MAX_NAME: Final = 128
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# a repository name that would shadow a route of the web site
RESERVED: Final = frozenset(
    {"api", "me", "docs", "openapi.json", "static", "upload", "redoc", "login", "metrics"}
)


def check_user(name: str) -> str:
    """``name`` when it may name a repository, else BadRequest saying why."""
    if not name or len(name) > 64 or not _NAME.match(name) or ".." in name:
        raise BadRequest(
            f"repository name {name[:80]!r} is not valid: 1 to 64 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    if name.lower() in RESERVED:
        raise BadRequest(f"repository name {name!r} is reserved")
    return name


def check_flist(name: str) -> str:
    """``name`` when it may name an flist (``something.fl``), else BadRequest saying why."""
    if (
        len(name) > MAX_NAME
        or not _NAME.match(name)
        or ".." in name
        or not name.endswith(".fl")
        or name == ".fl"
    ):
        raise BadRequest(
            f"flist name {name[:80]!r} is not valid: up to {MAX_NAME} letters, digits, '.', '_' "
            "or '-' ending in .fl, without '..' or '/'"
        )
    return name


def check_tag(name: str) -> str:
    """``name`` when it may name a tag, else BadRequest saying why."""
    if not name or len(name) > 64 or not _NAME.match(name) or ".." in name:
        raise BadRequest(f"tag name {name[:80]!r} is not valid: 1 to 64 letters, digits, . _ -")
    return name


def flist_name_for(filename: str) -> str:
    """The flist an uploaded archive becomes: ``app.tar.gz`` -> ``app.fl``."""
    base = filename.rsplit("/", 1)[-1]
    for suffix in (".tar.gz", ".tgz", ".tar", ".fl"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return check_flist(base + ".fl")
