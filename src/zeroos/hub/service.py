"""What zero-hub does apart from HTTP: turn uploads into flists, check, merge, read them."""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from ..flist.create import BuildOptions, CreateReport, create, create_from_tar
from ..flist.errors import BlockError, FlistError, FlistFormatError, StoreUnavailable
from ..flist.format import Flist
from ..flist.image import import_image
from ..flist.merge import merge
from ..flist.models import Route
from ..flist.stores import has_many, open_store, without_password
from .errors import BadRequest, Conflict, StoreError
from .models import ContentEntry, FlistContents, Uploaded
from .names import check_flist
from .progress import Jobs
from .repository import Repositories

Progress = Callable[[int], None]
Kind = Literal["regular", "directory", "symlink", "other"]


@dataclass
class Limits:
    """How much one upload may weigh, and how much its archive may expand to."""

    upload: int = 2 << 30
    expand: int = 16 << 30
    readme: int = 64 << 10
    listing: int = 100_000  # entries shown by the contents routes


@dataclass
class Hub:
    """The repositories on disk and the block store every flist of the hub points at."""

    repos: Repositories
    store_url: str
    limits: Limits = field(default_factory=Limits)
    timeout: float = 30.0
    jobs: Jobs = field(default_factory=Jobs)
    # key -> id of blocks seen before (flist's idcache): a block uploaded again is hashed, not
    # sealed again; the store is still asked for every id
    id_cache: Path | None = None

    @property
    def routes_url(self) -> str:
        """The store as the hub's flists name it: without its password (readers need none)."""
        return without_password(self.store_url)

    def publish(self, path: Path) -> None:
        """Point the flist file ``path`` at the hub's store, as readers reach it."""
        with Flist.open(path, writable=True) as fl:
            fl.set_routes([Route(0, 255, self.routes_url)])

    def _report(self, user: str, name: str, started: float, **counts: int) -> Uploaded:
        entry = self.repos.entry(user, name)
        return Uploaded(
            flist=f"{user}/{entry.name}",
            name=entry.name,
            seconds=round(time.monotonic() - started, 3),
            **counts,
        )

    def upload_archive(
        self, user: str, name: str, archive: Path, progress: Progress | None = None
    ) -> Uploaded:
        """Make ``user/name`` from a .tar(.gz) ``archive``, its blocks stored in the hub."""
        return self._convert(
            user, name, lambda out: create(archive, out, self._stores, **self._options(progress))
        )

    def upload_stream(
        self, user: str, name: str, stream: IO[bytes], progress: Progress | None = None
    ) -> Uploaded:
        """Make ``user/name`` from a .tar(.gz) read once from ``stream`` as it arrives."""
        return self._convert(
            user,
            name,
            lambda out: create_from_tar(
                stream, out, self._stores, name="the upload", **self._options(progress)
            ),
        )

    def upload_image(
        self, user: str, name: str, archive: Path, progress: Progress | None = None
    ) -> Uploaded:
        """Make ``user/name`` from an OCI layout or ``docker save`` archive."""
        return self._convert(
            user,
            name,
            lambda out: import_image(archive, out, self._stores, **self._options(progress)),
        )

    @property
    def _stores(self) -> list[str]:
        """Where every conversion stores its blocks: the hub's store."""
        return [self.store_url]

    def _options(self, progress: Progress | None) -> BuildOptions:
        """What every conversion is given: the hub's limits and id cache."""
        return {
            "max_bytes": self.limits.expand,
            "timeout": self.timeout,
            "progress": progress,
            "id_cache": self.id_cache,
        }

    def _convert(self, user: str, name: str, make: Callable[[Path], CreateReport]) -> Uploaded:
        """``make(path)`` writes the flist to a scratch path, then it becomes ``user/name``."""
        started = time.monotonic()
        out = self.repos.scratch(".fl")
        try:
            report = make(out)
            self.publish(out)
            self.repos.install(user, check_flist(name), out)
        except StoreUnavailable as exc:
            raise StoreError(str(exc)) from exc
        except FlistError as exc:
            raise BadRequest(f"{name}: {exc}") from exc
        finally:
            out.unlink(missing_ok=True)
        return self._report(
            user,
            name,
            started,
            files=report.files,
            bytes=report.total_bytes,
            blocks_new=report.upload.stored_blocks,
            blocks_present=report.upload.unique_blocks - report.upload.stored_blocks,
        )

    def upload_flist(
        self, user: str, name: str, made: Path, progress: Progress | None = None
    ) -> Uploaded:
        """Accept the flist file ``made`` as ``user/name`` if the hub holds every block it names.

        Its routes are rewritten to the hub's store, where its blocks are.
        """
        started = time.monotonic()
        try:
            with Flist.open(made, writable=True) as fl:
                ids = list(dict.fromkeys(ref.id for _, ref in fl.all_blocks()))
                store = open_store(self.store_url, timeout=self.timeout)
                try:
                    present = has_many(store, ids)
                finally:
                    store.close()
                missing = [i for i, ok in zip(ids, present, strict=True) if not ok]
                if missing:
                    raise Conflict(
                        f"{name}: {len(missing)} of its {len(ids)} blocks are not in the hub "
                        f"(first: {missing[0].hex()}); upload them, or upload the archive"
                    )
                fl.set_routes([Route(0, 255, self.routes_url)])
        except FlistFormatError as exc:
            raise BadRequest(f"{name} is not an flist: {exc}") from exc
        except StoreUnavailable as exc:
            raise StoreError(str(exc)) from exc
        except BlockError as exc:
            raise BadRequest(f"{name}: {exc}") from exc
        self.repos.install(user, check_flist(name), made)
        if progress is not None:
            progress(len(ids))  # blocks checked: all of them
        return self._report(user, name, started, blocks_present=len(ids))

    def merge(self, user: str, target: str, sources: list[str]) -> Uploaded:
        """Make ``user/target`` the merge of ``sources`` (``user/name.fl``, lowest first)."""
        if not sources:
            raise BadRequest("merge needs a list of at least one flist (user/name.fl)")
        paths = []
        for source in sources:
            owner, _, name = source.partition("/")
            paths.append(self.repos.path(owner, name))
        started = time.monotonic()
        out = self.repos.scratch(".fl")
        try:
            merge(list(paths), out)
            self.repos.install(user, check_flist(target), out)
        except FlistError as exc:
            raise BadRequest(f"merge into {target}: {exc}") from exc
        finally:
            out.unlink(missing_ok=True)
        return self._report(user, target, started)

    def contents(self, user: str, name: str) -> FlistContents:
        """The tree of ``user/name`` (at most ``limits.listing`` entries) and its tags."""
        path = self.repos.path(user, name)
        try:
            with Flist.open(path) as fl:
                entries: list[ContentEntry] = []
                for where, node in fl.walk():
                    if len(entries) >= self.limits.listing:
                        break
                    kind = stat.S_IFMT(node.mode)
                    entries.append(
                        ContentEntry(
                            path=where,
                            size=node.size,
                            type=_KINDS.get(kind, "other"),
                            target=fl.link_target(node.ino).decode("utf-8", "replace")
                            if kind == stat.S_IFLNK
                            else None,
                        )
                    )
                return FlistContents(name=name, entries=entries, tags=fl.tags())
        except FlistFormatError as exc:
            raise BadRequest(f"{user}/{name} is damaged: {exc}") from exc


_KINDS: dict[int, Kind] = {
    stat.S_IFREG: "regular",
    stat.S_IFDIR: "directory",
    stat.S_IFLNK: "symlink",
}
