"""The hub's flists on disk: one folder a repository (user), links as symlinks, readmes beside.

    root/flists/<user>/<name>.fl      an flist, or a symlink to one in the same repository
    root/readme/<user>/<name>.fl.md   its readme
    root/tags/<user>/<tag>/<name>.fl  a tag: symlinks to flists of any repository
    root/tmp/                         uploads being received and converted

Every change is a rename or a symlink made under a temporary name and renamed into place, so a
reader sees the old flist or the new one, never half of one. Names are checked by
:mod:`.names` before a path is built from them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import threading
import time
from contextlib import suppress
from pathlib import Path

from .errors import BadRequest, Conflict, NotFound
from .models import FlistEntry, FlistLight, RepositoryInfo
from .names import check_flist, check_tag, check_user

_CHUNK = 1 << 20
_KEEP_SUMS = 100_000
_SETTLED_NS = 2_000_000_000  # whole-second timestamps (their file system's)
_SETTLED_FINE_NS = 100_000_000  # nanosecond timestamps from a clock ticking every jiffy


class Repositories:
    """The flists of every repository under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).absolute()
        self.flists = self.root / "flists"
        self.readmes = self.root / "readme"
        self.tags_dir = self.root / "tags"
        self.tmp = self.root / "tmp"
        for folder in (self.flists, self.readmes, self.tags_dir, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        # a repository's listing, kept while its folder's mtime stays: every change here is a
        # rename, link or unlink in that folder, which moves it
        self._listings: dict[str, tuple[int, list[FlistEntry]]] = {}
        # every flist's name, and the listings (the same objects) it was made of
        self._everything: tuple[list[tuple[str, list[FlistEntry]]], list[str]] | None = None
        # checksums of flist files by path, with the file's (dev, inode, size, mtime)
        self._sums: dict[Path, tuple[tuple[int, int, int, int], str, str]] = {}
        self._lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------
    def users(self) -> list[RepositoryInfo]:
        """Every repository holding at least one flist, by name."""
        found = []
        for folder in self._repo_folders():
            if count := len(self.entries(folder.name)):
                found.append(RepositoryInfo(name=folder.name, flists=count))
        return found

    def everything(self, search: str | None = None) -> list[str]:
        """``user/name.fl`` of every flist, those whose name holds ``search`` when given.

        The whole list is kept while every repository's listing is (the same list objects).
        """
        listings = [(folder.name, self.entries(folder.name)) for folder in self._repo_folders()]
        if search:
            return [f"{user}/{e.name}" for user, entries in listings for e in entries
                    if search in e.name]  # fmt: skip
        with self._lock:
            kept = self._everything
        if (
            kept is not None
            and len(kept[0]) == len(listings)
            and all(a[0] == b[0] and a[1] is b[1] for a, b in zip(kept[0], listings, strict=True))
        ):
            return kept[1]
        names = [f"{user}/{e.name}" for user, entries in listings for e in entries]
        with self._lock:
            self._everything = (listings, names)
        return names

    def _repo_folders(self) -> list[Path]:
        return sorted(p for p in self.flists.iterdir() if not p.name.startswith("."))

    def recent(self, count: int = 20) -> list[tuple[str, FlistEntry]]:
        """The ``count`` flists updated last, as (repository, entry)."""
        found = [
            (folder.name, entry)
            for folder in self.flists.iterdir()
            for entry in self.entries(folder.name)
        ]
        return sorted(found, key=lambda pair: pair[1].updated, reverse=True)[:count]

    def entries(self, user: str) -> list[FlistEntry]:
        """The flists of ``user``'s repository (NotFound when it has none)."""
        folder = self.flists / check_user(user)
        try:
            mtime = folder.stat().st_mtime_ns
        except FileNotFoundError as exc:
            raise NotFound(f"repository {user!r} not found") from exc
        with self._lock:
            kept = self._listings.get(user)
        if kept is not None and kept[0] == mtime:
            return kept[1]
        scanned = time.time_ns()
        entries = [
            self._entry(user, p.name)
            for p in sorted(folder.iterdir())
            if p.name.endswith(".fl") and (p.exists() or p.is_symlink())
        ]
        # a change made after this scan started moves the folder's mtime past the one read
        # above unless that mtime is within the timestamp clock's tick of now (the kernel
        # stamps with a coarse clock: a jiffy; whole seconds on some file systems): such a
        # listing is not kept, or it could hide that change
        settle = _SETTLED_NS if mtime % 1_000_000_000 == 0 else _SETTLED_FINE_NS
        if scanned - mtime > settle:
            with self._lock:
                self._listings[user] = (mtime, entries)
        return entries

    def _entry(self, user: str, name: str) -> FlistEntry:
        path = self.flists / user / name
        if path.is_symlink():
            target = os.readlink(path)
            st = path.stat() if path.exists() else path.lstat()
            return FlistEntry(
                name=name,
                size=st.st_size,
                updated=int(path.lstat().st_mtime),
                type="symlink",
                target=_target_name(user, target),
            )
        st = path.stat()
        return FlistEntry(name=name, size=st.st_size, updated=int(st.st_mtime), type="regular")

    def entry(self, user: str, name: str) -> FlistEntry:
        self.path(user, name)
        return self._entry(user, name)

    def path(self, user: str, name: str) -> Path:
        """The file of ``user/name`` (links followed, never out of the hub); NotFound if none."""
        path = self.flists / check_user(user) / check_flist(name)
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise NotFound(f"flist {user}/{name} not found") from exc
        if not real.is_relative_to(self.flists.resolve()) or not real.is_file():
            raise NotFound(f"flist {user}/{name} not found")
        return real

    def exists(self, user: str, name: str) -> bool:
        return (self.flists / check_user(user) / check_flist(name)).is_symlink() or (
            self.flists / user / name
        ).exists()

    def light(self, user: str, name: str) -> FlistLight:
        """Name, size, time and checksums of one flist."""
        path = self.path(user, name)
        st = path.stat()
        version = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            sums = self._sums.get(path)
        if sums is None or sums[0] != version:
            md5, blake = hashlib.md5(usedforsecurity=False), hashlib.blake2b(digest_size=32)
            with path.open("rb") as stream:
                while chunk := stream.read(_CHUNK):
                    md5.update(chunk)
                    blake.update(chunk)
            sums = (version, md5.hexdigest(), blake.hexdigest())
            with self._lock:  # every change installs a new file (a new inode): never stale
                self._sums[path] = sums
                if len(self._sums) > _KEEP_SUMS:
                    self._sums.pop(next(iter(self._sums)))
        entry = self._entry(user, name)
        return FlistLight(
            name=name, size=entry.size, updated=entry.updated, md5=sums[1], blake2b=sums[2]
        )

    def readme(self, user: str, name: str) -> str:
        self.path(user, name)
        try:
            return (self.readmes / user / f"{name}.md").read_text()
        except FileNotFoundError as exc:
            raise NotFound(f"flist {user}/{name} has no readme") from exc

    # -- changing --------------------------------------------------------------------------
    def scratch(self, suffix: str = "") -> Path:
        """A fresh path in the hub's temporary folder (the caller removes it)."""
        return self.tmp / f"{secrets.token_hex(8)}{suffix}"

    def _folder(self, user: str) -> Path:
        folder = self.flists / check_user(user)
        folder.mkdir(exist_ok=True)
        return folder

    def install(self, user: str, name: str, made: Path) -> FlistEntry:
        """Move the flist file ``made`` to ``user/name`` (replacing what was there)."""
        dest = self._folder(user) / check_flist(name)
        os.replace(made, dest)
        return self._entry(user, name)

    def _symlink(self, dest: Path, target: str) -> None:
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}")
        os.symlink(target, tmp)
        os.replace(tmp, dest)

    def link(self, user: str, source: str, linkname: str) -> FlistEntry:
        """Make ``user/linkname`` a link to ``user/source``."""
        if check_flist(linkname) == check_flist(source):
            raise BadRequest("a link cannot point to itself")
        self.path(user, source)
        dest = self.flists / user / linkname
        if dest.exists() and not dest.is_symlink():
            raise Conflict(f"{user}/{linkname} is an flist, not a link: delete it first")
        self._symlink(dest, source)
        return self._entry(user, linkname)

    def rename(self, user: str, source: str, dest: str) -> FlistEntry:
        """Rename ``user/source`` to ``user/dest`` (refused when ``dest`` exists)."""
        src = self.flists / check_user(user) / check_flist(source)
        if not (src.exists() or src.is_symlink()):
            raise NotFound(f"flist {user}/{source} not found")
        if self.exists(user, dest):
            raise Conflict(f"{user}/{dest} exists already")
        os.rename(src, self.flists / user / dest)
        with suppress(FileNotFoundError):
            os.rename(self.readmes / user / f"{source}.md", self.readmes / user / f"{dest}.md")
        return self._entry(user, dest)

    def promote(self, user: str, src_user: str, src_name: str, dest: str) -> FlistEntry:
        """Copy ``src_user/src_name`` into ``user``'s repository as ``dest``."""
        source = self.path(src_user, src_name)
        tmp = self.scratch(".fl")
        try:
            shutil.copyfile(source, tmp)
            return self.install(user, check_flist(dest), tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def delete(self, user: str, name: str) -> None:
        path = self.flists / check_user(user) / check_flist(name)
        if not (path.exists() or path.is_symlink()):
            raise NotFound(f"flist {user}/{name} not found")
        path.unlink()
        (self.readmes / user / f"{name}.md").unlink(missing_ok=True)

    def set_readme(self, user: str, name: str, text: str) -> None:
        self.path(user, name)
        folder = self.readmes / user
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{name}.{secrets.token_hex(4)}"
        tmp.write_text(text)
        os.replace(tmp, folder / f"{name}.md")

    # -- tags ------------------------------------------------------------------------------
    def tag(self, user: str, tag: str, name: str, src_user: str, src_name: str) -> None:
        """Make ``name`` in ``user``'s tag ``tag`` a link to ``src_user/src_name``."""
        self.path(src_user, src_name)
        folder = self.tags_dir / check_user(user) / check_tag(tag)
        folder.mkdir(parents=True, exist_ok=True)
        self._symlink(folder / check_flist(name), f"../../../flists/{src_user}/{src_name}")

    def untag(self, user: str, tag: str, name: str) -> None:
        path = self.tags_dir / check_user(user) / check_tag(tag) / check_flist(name)
        if not path.is_symlink():
            raise NotFound(f"tag {user}/{tag} holds no {name}")
        path.unlink()
        with suppress(OSError):
            path.parent.rmdir()  # the last one out removes the tag

    def tags(self, user: str) -> dict[str, dict[str, str]]:
        """Every tag of ``user``: its name -> {link name: ``user/name.fl`` it points to}."""
        folder = self.tags_dir / check_user(user)
        if not folder.is_dir():
            return {}
        return {
            tag.name: {
                link.name: _target_name(user, os.readlink(link)) for link in sorted(tag.iterdir())
            }
            for tag in sorted(folder.iterdir())
        }


def _target_name(user: str, target: str) -> str:
    """``user/name.fl`` of a link's target (a name in the repository, or a path of the hub)."""
    parts = Path(target).parts
    return f"{parts[-2]}/{parts[-1]}" if len(parts) >= 2 else f"{user}/{target}"
