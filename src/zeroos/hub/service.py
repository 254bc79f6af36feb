"""What zero-hub does apart from HTTP: turn uploads into flists, check, merge, read them."""

from __future__ import annotations

import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, cast

from ..flist.create import BuildOptions, CreateReport, create, create_from_tar
from ..flist.errors import BlockError, FlistError, FlistFormatError, StoreUnavailable
from ..flist.format import Flist
from ..flist.image import import_image
from ..flist.merge import merge
from ..flist.models import Route
from ..flist.stores import Router, has_many, without_password
from .errors import BadRequest, Conflict, StoreError
from .models import ContentEntry, FlistContents, Uploaded
from .names import check_flist
from .progress import Jobs
from .repository import Repositories
from .reuse import Archives, Arrival, Counts

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
    # flists made from archives, by the archive's digest: the same archive uploaded again is
    # not converted again while every block its flist names is in the store
    archives: Archives | None = None

    @property
    def routes_url(self) -> str:
        """The store as the hub's flists name it: without its password (readers need none)."""
        return without_password(self.store_url)

    def publish(self, path: Path) -> None:
        """Point the flist file ``path`` at the hub's store, as readers reach it."""
        with Flist.open(path, writable=True) as fl:
            fl.set_routes([Route(0, 255, self.routes_url)])

    def _report(self, user: str, name: str, started: float, **counts: Any) -> Uploaded:
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
        """Make ``user/name`` from a .tar(.gz) read once from ``stream`` as it arrives.

        An archive beginning like one converted before is kept on disk as it arrives
        instead, then reused or converted (:meth:`_upload_again`).
        """
        arrival = Arrival(stream)
        if self.archives is not None and self.archives.known_head(arrival.head()):
            return self._upload_again(user, name, arrival, progress)

        def make(out: Path) -> CreateReport:
            # Arrival reads like a file that cannot seek: all tarfile's stream mode asks of one
            source = cast("IO[bytes]", arrival)
            report = create_from_tar(
                source, out, self._stores, name="the upload", **self._options(progress)
            )
            arrival.drain()
            return report

        return self._convert(user, name, make, arrival)

    def _upload_again(
        self, user: str, name: str, arrival: Arrival, progress: Progress | None
    ) -> Uploaded:
        """The upload ``arrival``, written to disk whole; the flist of the same archive made
        before when every block it names is still in the store, else its conversion."""
        spooled = self.repos.scratch(".tar")
        try:
            with spooled.open("wb") as out:
                shutil.copyfileobj(arrival, out, 1 << 20)  # its size is bounded by its receiver
            reused = self.reuse(user, name, arrival.digest(), progress)
            if reused is not None:
                return reused
            return self._convert(
                user,
                name,
                lambda out: create(spooled, out, self._stores, **self._options(progress)),
                arrival,
            )
        finally:
            spooled.unlink(missing_ok=True)

    def reuse(
        self, user: str, name: str, digest: str, progress: Progress | None = None
    ) -> Uploaded | None:
        """Make ``user/name`` a copy of the flist made before from the archive ``digest``, if
        there is one and the store holds every block it names (else it is forgotten)."""
        kept = self.archives.get(digest) if self.archives is not None else None
        if kept is None or self.archives is None:
            return None
        started = time.monotonic()
        out = self.repos.scratch(".fl")
        try:
            shutil.copyfile(kept.flist, out)
            with Flist.open(out) as fl:
                ids = list(dict.fromkeys(ref.id for _, ref in fl.all_blocks()))
            if not all(self._present(ids)):
                self.archives.forget(digest)
                return None
            self.publish(out)
            self.repos.install(user, check_flist(name), out)
        except FlistFormatError:
            self.archives.forget(digest)  # a damaged copy: converted again instead
            return None
        except StoreUnavailable as exc:
            raise StoreError(str(exc)) from exc
        finally:
            out.unlink(missing_ok=True)
        if progress is not None:
            progress(kept.counts.bytes)
        return self._report(
            user,
            name,
            started,
            files=kept.counts.files,
            bytes=kept.counts.bytes,
            blocks_present=len(ids),
            reused=True,
        )

    def _present(self, ids: list[bytes]) -> list[bool]:
        """Which of ``ids`` the hub's store holds: asked in batches (zero-db: EXISTS
        pipelined), or many at a time (zero-stor)."""
        store = Router([Route(0, 255, self.store_url)], timeout=self.timeout)
        try:
            return has_many(store, ids)
        finally:
            store.close()

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

    def _convert(
        self,
        user: str,
        name: str,
        make: Callable[[Path], CreateReport],
        archive: Arrival | None = None,
    ) -> Uploaded:
        """``make(path)`` writes the flist to a scratch path, then it becomes ``user/name``;
        made from the upload ``archive`` (read whole by ``make``), it is kept for reuse."""
        started = time.monotonic()
        out = self.repos.scratch(".fl")
        try:
            report = make(out)
            self.publish(out)
            if archive is not None and self.archives is not None:
                counts = Counts(files=report.files, bytes=report.total_bytes)
                self.archives.remember(archive.head(), archive.digest(), out, counts)
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
                present = self._present(ids)
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
