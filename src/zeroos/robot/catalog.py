"""The robot's templates: the built-in ones and those of the repositories added, by UID."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from ..common.log import event
from . import builtin
from .errors import BadRequest, NotFound, RepositoryError, RobotError
from .git import checkout_dir, clone, is_url, split_ref, uid_prefix
from .loader import Loaded, load_folder
from .models import TemplateInfo
from .store import write_atomic
from .template import TemplateBase

log = logging.getLogger("zeroos.robot")
REPOSITORIES = "repositories.json"


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in version.split("."))


def template_info(cls: type[TemplateBase]) -> TemplateInfo:
    """How the API shows a template."""
    host, account, repo, name, version = cls.uid.split("/", 4)
    return TemplateInfo(
        uid=cls.uid,
        host=host,
        account=account,
        repository=repo,
        name=name,
        version=version,
        actions=cls.actions(),
    )


class Catalog:
    """The templates a robot can instantiate, loaded from the built-in folder and from the
    repositories added (cloned under ``data/repos``, their list kept in ``data``); thread-safe.
    Reloading a repository gives new classes: the robot hands them to its services."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.templates: dict[str, type[TemplateBase]] = {}
        self.repositories: dict[str, str] = {}  # what was asked -> where its files are
        self.problems: list[str] = []  # templates (and the robot's services) not loaded
        self._lock = threading.RLock()

    def add_repository(self, url: str, branch: str | None = None) -> Loaded:
        """Load the templates of a git URL (``#ref`` allowed) or a local folder."""
        location, ref = split_ref(url)
        ref = branch or ref
        if is_url(location) or ref:
            where = clone(location, ref, checkout_dir(self.data / "repos", location, ref))
        else:
            where = Path(location).absolute()
            if not where.is_dir():
                raise RepositoryError(f"{location}: no such folder")
        loaded = load_folder(where, uid_prefix(location))
        with self._lock:
            self.templates.update(loaded.templates)
            self.repositories[url if not branch else f"{location}#{branch}"] = str(where)
            # in place: the robot adds its services' problems to the same list
            self.problems[:] = [p for p in self.problems if not p.startswith(str(where))]
            self.problems.extend(loaded.errors)
        for line in loaded.errors:
            event(log, "template_error", level=logging.WARNING, error=line)
        return loaded

    def add_builtin(self) -> Loaded:
        """Load the built-in templates (zero-db server and namespace), UIDs under
        ``zeroos/builtin/templates``; not listed among the repositories."""
        loaded = load_folder(builtin.ROOT, builtin.PREFIX)
        with self._lock:
            self.templates.update(loaded.templates)
            self.problems.extend(loaded.errors)
        return loaded

    def update_repository(self, url: str | None = None) -> Loaded:
        """Pull again the repository added as ``url`` (every one when None); what it loaded."""
        with self._lock:
            names = list(self.repositories) if url is None else [url]
        unknown = [n for n in names if n not in self.repositories]
        if unknown:
            raise NotFound(f"no repository {unknown[0]!r} (GET /robot lists them)")
        loaded = Loaded()
        for name in names:
            more = self.add_repository(name)  # a fresh clone replaces the old one
            loaded.templates.update(more.templates)
            loaded.errors.extend(more.errors)
        return loaded

    def checkout_repository(self, url: str, ref: str) -> Loaded:
        """Load repository ``url`` (as added) at ``ref`` instead: a branch, tag or commit."""
        with self._lock:
            if url not in self.repositories:
                raise NotFound(f"no repository {url!r} (GET /robot lists them)")
        location, _ = split_ref(url)
        loaded = self.add_repository(location, ref)
        with self._lock:
            if url != f"{location}#{ref}":
                self.repositories.pop(url, None)
        return loaded

    def template(self, ref: str) -> type[TemplateBase]:
        """The template ``ref`` names: a full UID, ``name``, ``name/version`` or a UID's tail;
        the highest version when none is given."""
        with self._lock:
            if ref in self.templates:
                return self.templates[ref]
            found = [c for uid, c in self.templates.items() if uid.endswith("/" + ref)]
            if not found:  # no version given: any version of that name
                found = [
                    c for uid, c in self.templates.items() if uid.rsplit("/", 1)[0].endswith(ref)
                ]
                found = [c for c in found if c.uid.rsplit("/", 2)[-2] == ref.rsplit("/", 1)[-1]]
        if not found:
            raise NotFound(f"no template {ref!r} (GET /templates lists them)")
        prefixes = {c.uid.rsplit("/", 1)[0] for c in found}
        if len(prefixes) > 1:
            raise BadRequest(f"template {ref!r} is ambiguous: {', '.join(sorted(prefixes))}")
        return max(found, key=lambda c: _version_key(c.version))

    def template_list(self) -> list[TemplateInfo]:
        """Every template loaded."""
        with self._lock:
            return [template_info(c) for _, c in sorted(self.templates.items())]

    def counts(self) -> tuple[int, list[str], list[str]]:
        """How many templates, the repositories, the problems: a consistent look."""
        with self._lock:
            return len(self.templates), list(self.repositories), list(self.problems)

    def save_repositories(self) -> None:
        """Keep the repositories added through the API, to load them again at the next start."""
        with self._lock:
            names = json.dumps(list(self.repositories)).encode()
        write_atomic(self.data / REPOSITORIES, names)

    def saved_repositories(self) -> list[str]:
        """The repositories kept by :meth:`save_repositories` (none when never saved)."""
        try:
            names = json.loads((self.data / REPOSITORIES).read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise RobotError(f"{self.data / REPOSITORIES} cannot be read: {exc}") from exc
        return [str(n) for n in names]
