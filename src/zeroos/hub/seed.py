"""The hub's own flists: our services, built from the project's installed files at start.

``zeroos/zero-db.fl`` holds the ``zeroos`` package under ``/usr/lib/python3/dist-packages``
with an ``entrypoint`` tag that starts a zero-db, so a node can start one from the hub. It is
rebuilt only when the installed zeroos differs from the one it was built from (its
``zeroos-version`` tag and a digest of the package's files).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Final

from .._version import __version__
from ..flist.create import create
from ..flist.errors import FlistError
from ..flist.format import Flist
from .errors import HubError
from .service import Hub

REPOSITORY: Final = "zeroos"
SITE: Final = "usr/lib/python3/dist-packages"
SERVICES: Final = {"zero-db.fl": ["python3", "-m", "zeroos.cli", "zdb", "serve"]}
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


def _package() -> Path:
    # this file's grandparent, not zeroos.__file__: another distribution (0-core-client)
    # also installs a `zeroos` package, and may own that name's __init__
    return Path(__file__).resolve().parent.parent


def _digest(root: Path) -> str:
    """A digest of the package's files (names and contents), to know when to rebuild."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _current(hub: Hub, name: str, digest: str) -> bool:
    if not hub.repos.exists(REPOSITORY, name):
        return False
    try:
        with Flist.open(hub.repos.path(REPOSITORY, name)) as fl:
            return fl.tag("zeroos-digest") == digest
    except HubError:
        return False


def seed(hub: Hub) -> list[str]:
    """Build the service flists that are missing or stale; their ``zeroos/name.fl`` names."""
    package = _package()
    digest = _digest(package)
    built = []
    for name, entrypoint in SERVICES.items():
        if _current(hub, name, digest):
            continue
        stage = hub.repos.scratch(".seed")
        out = hub.repos.scratch(".fl")
        try:
            shutil.copytree(package, stage / SITE / "zeroos", ignore=_SKIP)
            tags = {
                "entrypoint": json.dumps(entrypoint),
                "env": json.dumps([f"PYTHONPATH=/{SITE}"]),
                "zeroos-version": __version__,
                "zeroos-digest": digest,
            }
            create(stage, out, [hub.store_url], tags=tags, timeout=hub.timeout)
            hub.publish(out)
            hub.repos.install(REPOSITORY, name, out)
        except FlistError as exc:
            raise HubError(f"cannot build {REPOSITORY}/{name}: {exc}") from exc
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            out.unlink(missing_ok=True)
        built.append(f"{REPOSITORY}/{name}")
    return built
