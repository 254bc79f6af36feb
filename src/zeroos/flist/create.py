"""Making an flist from a directory or a tar archive (.tar, .tar.gz, ...).

The tree's metadata goes into the flist file; file content is cut into blocks that are sealed
(see blocks.py) and stored on the routed stores, skipping blocks already there.
A directory is trusted as it is (it is already on this machine). An archive is not: members
with absolute paths or ``..``, links leading out of the tree, device nodes (unless allowed),
bad names, and archives expanding past ``max_bytes`` are refused with one line.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TypedDict, Unpack

from .errors import FlistError
from .format import DEFAULT_BLOCK_SIZE, Flist
from .idcache import IdCache
from .models import Route
from .stores import Router, parse_routes
from .tarstream import open_tar_stream
from .tree import Entry, TreeBuilder, check_name
from .upload import Progress, Uploader, UploadStats

DEFAULT_MAX_BYTES = 1 << 40  # 1 TiB of content from one archive before it counts as a bomb


@dataclass
class CreateReport:
    """What create (or import) did."""

    flist: Path
    entries: int = 0
    files: int = 0
    total_bytes: int = 0
    upload: UploadStats = field(default_factory=UploadStats)
    seconds: float = 0.0


# -- a directory --------------------------------------------------------------------------
def scan_dir(src: Path, *, skip: Iterable[Path] = ()) -> Iterator[Entry]:
    """The entries of a local directory tree (itself first), hard links recognised.

    ``skip``: files left out (the flist being written, when it is inside the tree).
    """
    skipped = {(st.st_dev, st.st_ino) for st in _stats(skip)}
    first_names: dict[tuple[int, int], str] = {}
    top = os.lstat(src)
    yield _entry_from_stat("", top, b"")
    stack = [("", src)]
    while stack:
        rel, path = stack.pop()
        try:
            items = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            raise FlistError(f"{path}: cannot list: {exc.strerror}") from exc
        subdirs = []
        for item in items:
            child = f"{rel}/{item.name}" if rel else item.name
            check_name(item.name, child)
            st = item.stat(follow_symlinks=False)
            if (st.st_dev, st.st_ino) in skipped:
                continue
            entry = local_entry(Path(item.path), child, st)
            if stat.S_ISREG(st.st_mode):
                if st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    if key in first_names:
                        entry.link = first_names[key]
                    else:
                        first_names[key] = child
            elif stat.S_ISDIR(st.st_mode):
                subdirs.append((child, Path(item.path)))
            yield entry
        stack.extend(reversed(subdirs))


def _stats(paths: Iterable[Path]) -> list[os.stat_result]:
    found = []
    for path in paths:
        with contextlib.suppress(OSError):
            found.append(os.lstat(path))
    return found


def local_entry(path: Path, rel: str, st: os.stat_result | None = None) -> Entry:
    """The entry of one local path (not followed when a symlink), content read on demand."""
    st = st or os.lstat(path)
    target = os.fsencode(os.readlink(path)) if stat.S_ISLNK(st.st_mode) else b""
    entry = _entry_from_stat(rel, st, target)
    if stat.S_ISREG(st.st_mode):
        entry.open = lambda: open(path, "rb")  # noqa: SIM115 - closed by the caller
    return entry


def _entry_from_stat(rel: str, st: os.stat_result, target: bytes) -> Entry:
    return Entry(
        rel,
        st.st_mode,
        uid=st.st_uid,
        gid=st.st_gid,
        size=st.st_size if stat.S_ISREG(st.st_mode) else 0,
        rdev=st.st_rdev if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else 0,
        mtime=int(st.st_mtime),
        ctime=int(st.st_ctime),
        target=target,
    )


# -- an archive ---------------------------------------------------------------------------
def _member_path(name: str) -> str:
    """A member's path inside the tree, or FlistError for an absolute path or ``..``."""
    if name.startswith("/"):
        raise FlistError(f"archive member {name!r} has an absolute path; refused")
    parts = [p for p in name.split("/") if p and p != "."]
    if ".." in parts:
        raise FlistError(f"archive member {name!r} climbs out of the tree with '..'; refused")
    for part in parts:
        check_name(part, name)
    return "/".join(parts)


def _inside(base: str, target: str) -> bool:
    """Whether a relative link target, seen from directory ``base``, stays in the tree."""
    depth = len([p for p in base.split("/") if p])
    for part in target.split("/"):
        if part in ("", "."):
            continue
        depth = depth - 1 if part == ".." else depth + 1
        if depth < 0:
            return False
    return True


def scan_tar(
    tar: tarfile.TarFile,
    *,
    allow_devices: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[Entry]:
    """The entries of an archive read as a stream; content must be read before the next."""
    total = 0
    for member in tar:
        path = _member_path(member.name)
        mode = stat.S_IMODE(member.mode)
        entry = Entry(
            path,
            mode,
            uid=member.uid,
            gid=member.gid,
            mtime=int(member.mtime),
            ctime=int(member.mtime),
        )
        if member.isreg():
            total += member.size
            if total > max_bytes:
                raise FlistError(
                    f"archive expands past {max_bytes} bytes at {member.name!r} (a tar bomb?); "
                    "raise --max-size to accept it"
                )
            entry.mode |= stat.S_IFREG
            entry.size = member.size
            fileobj = tar.extractfile(member)
            if fileobj is None:
                raise FlistError(f"archive member {member.name!r}: content cannot be read")
            entry.open = _given(fileobj)
        elif member.isdir():
            entry.mode |= stat.S_IFDIR
        elif member.issym():
            target = member.linkname
            if not target.startswith("/") and not _inside(str(PurePosixPath(path).parent), target):
                raise FlistError(
                    f"archive member {member.name!r} links to {target!r}, outside the tree; refused"
                )
            entry.mode |= stat.S_IFLNK
            entry.target = target.encode("utf-8", "surrogateescape")
        elif member.islnk():
            link = _member_path(member.linkname)
            entry.mode |= stat.S_IFREG
            entry.link = link
        elif member.isfifo():
            entry.mode |= stat.S_IFIFO
        elif member.ischr() or member.isblk():
            if not allow_devices:
                raise FlistError(
                    f"archive member {member.name!r} is a device node; refused "
                    "(an archive you trust: --allow-devices)"
                )
            entry.mode |= stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            entry.rdev = os.makedev(member.devmajor, member.devminor)
        else:
            raise FlistError(f"archive member {member.name!r}: unsupported type {member.type!r}")
        yield entry


def _given(fileobj: IO[bytes]) -> Callable[[], IO[bytes]]:
    return lambda: fileobj


# -- putting it together ------------------------------------------------------------------
def fill(
    builder: TreeBuilder,
    uploader: Uploader,
    entries: Iterator[Entry],
    report: CreateReport,
    *,
    whiteouts: bool = False,
) -> None:
    """Apply entries to a tree, queuing file content for upload."""
    builder.settle = uploader.settle
    try:
        for entry in entries:
            if whiteouts and builder.whiteout(entry.path):
                continue
            report.entries += 1
            if entry.link is not None:
                builder.add_hardlink(entry)
                continue
            ino = builder.add(entry)
            if entry.open is not None:
                report.files += 1
                with entry.open() as stream:
                    size = uploader.add_file(ino, stream)
                report.total_bytes += size
                if size != entry.size:  # the file changed while read: record what was read
                    builder.flist.update_inode(ino, size=size)
    except tarfile.TarError as exc:
        raise FlistError(f"archive is damaged: {exc}") from exc


Fill = Callable[[TreeBuilder, Uploader, CreateReport], None]


class BuildOptions(TypedDict, total=False):
    """How an flist is built, whatever it is made from (:func:`create`,
    :func:`create_from_tar`, ``image.import_image``); each may be left out."""

    block_size: int  # the largest block content is cut into (DEFAULT_BLOCK_SIZE)
    workers: int | None  # upload threads (the uploader's default)
    tags: dict[str, str] | None  # set on the flist (an image's own tags win over these)
    allow_devices: bool  # device nodes in an archive are refused unless this is true
    max_bytes: int  # content an archive may expand to (DEFAULT_MAX_BYTES) before it is a bomb
    timeout: float  # seconds a store may take to answer (10)
    progress: Progress | None  # told the content bytes done as they are done
    id_cache: Path | None  # a file remembering block ids (idcache.py): re-creating is cheaper


def create(
    src: str | Path, out: str | Path, store_urls: list[str], **options: Unpack[BuildOptions]
) -> CreateReport:
    """Make ``out`` from a directory or archive ``src``, storing blocks on ``store_urls``.

    ``store_urls`` are store URLs, or ``XX-YY=URL`` for a range of id first bytes.
    The flist is written to a temporary file and renamed over ``out`` when complete.
    """
    src, out = Path(src), Path(out)
    if not src.exists():
        raise FlistError(f"{src}: no such directory or archive")
    if not src.is_dir():
        try:
            stream = src.open("rb")
        except OSError as exc:
            raise FlistError(f"{src}: cannot read: {exc.strerror}") from exc
        with stream:
            return create_from_tar(stream, out, store_urls, name=str(src), **options)

    def from_dir(builder: TreeBuilder, uploader: Uploader, report: CreateReport) -> None:
        # the flist being written may be inside the tree: it is not part of it
        fill(builder, uploader, scan_dir(src, skip=[building_tmp(out), out]), report)

    return make(out, store_urls, from_dir, options)


def create_from_tar(
    stream: IO[bytes],
    out: str | Path,
    store_urls: list[str],
    *,
    name: str = "the archive",
    **options: Unpack[BuildOptions],
) -> CreateReport:
    """Make ``out`` from a tar archive (plain or compressed) read once from ``stream``.

    ``stream`` need not seek (a socket, a pipe): each member's content goes into the block
    pipeline as it arrives, nothing is unpacked to disk. ``name``: the archive in messages.
    Otherwise as :func:`create`.
    """

    def from_tar(builder: TreeBuilder, uploader: Uploader, report: CreateReport) -> None:
        try:
            with open_tar_stream(stream, name) as tar:
                allow_devices = options.get("allow_devices", False)
                max_bytes = options.get("max_bytes", DEFAULT_MAX_BYTES)
                entries = scan_tar(tar, allow_devices=allow_devices, max_bytes=max_bytes)
                fill(builder, uploader, entries, report)
        except (OSError, EOFError, zlib.error) as exc:  # the stream broke, or gzip did
            raise FlistError(f"{name}: archive is damaged or cut short: {exc}") from exc

    return make(Path(out), store_urls, from_tar, options)


def make(out: Path, store_urls: list[str], add: Fill, options: BuildOptions) -> CreateReport:
    """Build ``out`` on ``store_urls`` with what ``add`` fills in, timed and reported.

    The one way every source (a directory, an archive, an image's layers) makes an flist.
    """
    routes = parse_routes(store_urls)
    started = time.monotonic()
    report = CreateReport(out)
    with building(out, routes, options) as (builder, uploader):
        add(builder, uploader, report)
    report.upload = uploader.stats
    report.seconds = time.monotonic() - started
    return report


def building_tmp(out: Path) -> Path:
    """Where the flist ``out`` is written until it is complete."""
    return out.with_name(f".{out.name}.{os.getpid()}.tmp")


class building:
    """A new flist being filled: a TreeBuilder and an Uploader; renamed into place at the end."""

    def __init__(self, out: Path, routes: list[Route], options: BuildOptions) -> None:
        block_size = options.get("block_size", DEFAULT_BLOCK_SIZE)
        id_cache = options.get("id_cache")
        self.out = out
        self.tmp = building_tmp(out)
        self.flist = Flist.create(self.tmp, block_size=block_size)
        self.flist.set_routes(routes)
        for key, value in (options.get("tags") or {}).items():
            self.flist.set_tag(key, value)
        self.store = Router(routes, timeout=options.get("timeout", 10.0))
        self.builder = TreeBuilder(self.flist, complete=True)
        self.cache = IdCache(id_cache) if id_cache is not None else None
        self.uploader = Uploader(
            self.flist,
            self.store,
            block_size=block_size,
            workers=options.get("workers"),
            progress=options.get("progress"),
            id_cache=self.cache,
        )

    def __enter__(self) -> tuple[TreeBuilder, Uploader]:
        return self.builder, self.uploader

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.uploader.finish()
                self.builder.finish()
                self.flist.close()
                os.replace(self.tmp, self.out)
            else:
                self.uploader.abort()
                self.flist.close()
        finally:
            self.store.close()
            if self.cache is not None:
                self.cache.close()
            self.tmp.unlink(missing_ok=True)
