"""Template repositories: a template UID prefix for a URL, and ``git`` clones of them."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from .errors import RepositoryError

GIT_TIMEOUT = 120.0
SCP = re.compile(r"^(?:[^@/]+@)?([^:/]+):(.+)$")  # git@github.com:account/repo.git


def is_url(text: str) -> bool:
    """Whether ``text`` names a remote (or file://) git repository rather than a local folder."""
    return "://" in text or (bool(SCP.match(text)) and not Path(text).exists())


def split_ref(text: str) -> tuple[str, str | None]:
    """``url#ref`` -> (url, ref)."""
    url, _, ref = text.partition("#")
    return url, ref or None


def uid_prefix(url: str) -> str:
    """``host/account/repo`` of a repository; a local one gets ``local/<digest>/<folder>``."""
    if "://" in url and not url.startswith("file://"):
        parts = urlsplit(url)
        path = parts.path.strip("/").removesuffix(".git").split("/")
        if parts.hostname and len(path) >= 2:
            return "/".join([parts.hostname, path[-2], path[-1]])
    match = SCP.match(url) if "://" not in url else None
    if match and not Path(url).exists():
        path = match.group(2).strip("/").removesuffix(".git").split("/")
        if len(path) >= 2:
            return "/".join([match.group(1), path[-2], path[-1]])
    local = Path(url.removeprefix("file://")).resolve()
    digest = hashlib.sha256(str(local).encode()).hexdigest()[:8]
    return f"local/{digest}/{local.name.removesuffix('.git')}"


def _git(*args: str, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            stdin=subprocess.DEVNULL,  # never wait for a password prompt
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RepositoryError(f"git {args[0]} failed: {exc}") from exc
    if done.returncode != 0:
        said = [x.strip() for x in done.stderr.splitlines() if x.strip()]
        said = [x for x in said if not x.startswith("Cloning into")] or ["(no message)"]
        raise RepositoryError(f"git {args[0]} failed: {'; '.join(said)[:500]}")
    return done.stdout


def clone(url: str, ref: str | None, dest: Path) -> Path:
    """A fresh clone of ``url`` (at ``ref``) in ``dest``; RepositoryError naming the URL."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _git("clone", "--quiet", "--", url, str(tmp))
        if ref:
            _git("checkout", "--quiet", ref, cwd=tmp)
    except RepositoryError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RepositoryError(f"{url}: {exc}") from exc
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def checkout_dir(root: Path, url: str, ref: str | None) -> Path:
    """Where the clone of ``url#ref`` lives under ``root``."""
    key = hashlib.sha256(f"{url}#{ref or ''}".encode()).hexdigest()[:16]
    return root / key


def current_branch(where: Path) -> str | None:
    """The branch checked out in ``where`` (None: a detached head, or not a git checkout)."""
    try:
        name = _git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=where).strip()
    except RepositoryError:
        return None
    return name or None
