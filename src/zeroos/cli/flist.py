"""`zos flist`: make, read, edit, merge, check and extract flists (docs/flist.md)."""

from __future__ import annotations

import contextlib
import os
import stat as stat_mod
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .output import human_size, progress_bar
from .util import SIZE

if TYPE_CHECKING:
    from ..flist.models import Inode


@click.group()
def flist() -> None:
    """flists: file trees as small sqlite files, their content as blocks on stores."""


def _tree_size(src: Path) -> int | None:
    """Bytes of the regular files under a directory (for the progress bar's total)."""
    if not src.is_dir():
        return None
    total = 0
    for path in src.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total


_ID_CACHE = click.option(
    "--id-cache",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path.home() / ".cache" / "zos" / "flist-ids.sqlite",
    show_default=True,
    help="Remembers block ids so blocks seen before are not sealed again.",
)
_NO_ID_CACHE = click.option("--no-id-cache", is_flag=True, help="Seal every block.")


@flist.command()
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="NAME.fl")
@click.option(
    "--store",
    "-s",
    "stores",
    multiple=True,
    required=True,
    metavar="[XX-YY=]URL",
    help="dir:///path, zdb://host:port/ns or zstor://zstor.yaml; XX-YY= limits it to ids "
    "starting with bytes XX..YY (hex); repeat to shard or replicate.",
)
@click.option("--block-size", type=SIZE, default="512K", show_default=True)
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE", help="Repeat.")
@click.option("--allow-devices", is_flag=True, help="Accept device nodes from the archive.")
@click.option(
    "--max-size",
    type=SIZE,
    default="1T",
    show_default=True,
    help="Refuse an archive whose files add up to more (tar bombs).",
)
@click.option("--workers", type=click.IntRange(1, 128), default=None)
@_ID_CACHE
@_NO_ID_CACHE
def create(
    src: Path,
    output: Path,
    stores: tuple[str, ...],
    block_size: int,
    tags: tuple[str, ...],
    allow_devices: bool,
    max_size: int,
    workers: int | None,
    id_cache: Path,
    no_id_cache: bool,
) -> None:
    """Make an flist from a directory or a .tar/.tar.gz archive SRC."""
    from ..flist.create import create as do_create

    with progress_bar("create", _tree_size(src)) as advance:
        report = do_create(
            src,
            output,
            list(stores),
            block_size=block_size,
            tags=dict(_pair(t) for t in tags),
            allow_devices=allow_devices,
            max_bytes=max_size,
            workers=workers,
            progress=advance,
            id_cache=None if no_id_cache else id_cache,
        )
    up = report.upload
    click.echo(
        f"{output}: {report.entries} entries, {report.files} files, "
        f"{human_size(report.total_bytes)}; "
        f"{up.unique_blocks} unique blocks, {up.stored_blocks} uploaded "
        f"({human_size(up.stored_bytes)}) in {report.seconds:.1f}s"
    )


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{text!r} is not KEY=VALUE")
    return key, value


@flist.command()
@click.argument("flist_path", metavar="NAME.fl", type=click.Path(path_type=Path))
@click.argument("dest", type=click.Path(path_type=Path))
@click.option(
    "--store",
    "-s",
    "stores",
    multiple=True,
    metavar="[XX-YY=]URL",
    help="Read blocks here instead of the flist's own routes.",
)
@click.option("--devices", is_flag=True, help="Make device nodes (as root).")
@click.option("--max-size", type=SIZE, default=None, help="Refuse flists holding more.")
def extract(
    flist_path: Path, dest: Path, stores: tuple[str, ...], devices: bool, max_size: int | None
) -> None:
    """Write the tree of NAME.fl into the directory DEST."""
    from ..flist.extract import extract as do_extract
    from ..flist.format import Flist

    with Flist.open(flist_path) as fl:
        total = sum(node.size for _, node in fl.walk() if node.is_file)
    with progress_bar("extract", total) as advance:
        report = do_extract(
            flist_path,
            dest,
            store_urls=list(stores) or None,
            devices=devices,
            max_bytes=max_size,
            progress=advance,
        )
    for line in report.skipped:
        click.echo(f"skipped: {line}", err=True)
    size = human_size(report.bytes)
    click.echo(f"{dest}: {report.entries} entries, {report.files} files, {size}")


_FLIST = click.argument("flist_path", metavar="NAME.fl", type=click.Path(path_type=Path))
_STORES = click.option(
    "--store",
    "-s",
    "stores",
    multiple=True,
    metavar="[XX-YY=]URL",
    help="Use these stores instead of the flist's own routes.",
)


def _line(path: str, node: Inode, target: bytes) -> str:
    """One `ls -l`-like line."""
    when = datetime.fromtimestamp(node.mtime, UTC).strftime("%Y-%m-%d %H:%M")
    size = f"{os.major(node.rdev)},{os.minor(node.rdev)}" if node.rdev else str(node.size)
    arrow = f" -> {os.fsdecode(target)}" if node.is_link else ""
    mode = stat_mod.filemode(node.mode)
    return f"{mode} {node.uid:>5} {node.gid:>5} {size:>10} {when} {path}{arrow}"


@flist.command("ls")
@_FLIST
@click.argument("path", default="/")
def ls_cmd(flist_path: Path, path: str) -> None:
    """List the directory PATH of NAME.fl (ls -l style)."""
    from ..flist.format import Flist
    from ..flist.query import ls

    with Flist.open(flist_path) as fl:
        for name, node in ls(fl, path):
            target = fl.link_target(node.ino) if node.is_link else b""
            click.echo(_line(name, node, target))


@flist.command("find")
@_FLIST
@click.argument("path", default="/")
@click.option("--name", help="Only names matching this glob.")
@click.option("--type", "kind", type=click.Choice(list("fdlpcbs")), help="Only this type.")
@click.option("-l", "--long", "long_", is_flag=True, help="ls -l style lines.")
def find_cmd(flist_path: Path, path: str, name: str | None, kind: str | None, long_: bool) -> None:
    """Print the paths under PATH (default /), like find(1)."""
    from ..flist.format import Flist
    from ..flist.query import find

    with Flist.open(flist_path) as fl:
        for where, node in find(fl, path, name=name, kind=kind):
            if long_:
                target = fl.link_target(node.ino) if node.is_link else b""
                click.echo(_line(where, node, target))
            else:
                click.echo(where)


@flist.command("stat")
@_FLIST
@click.argument("path")
def stat_cmd(flist_path: Path, path: str) -> None:
    """Show every field of the entry at PATH."""
    from ..flist.format import Flist

    with Flist.open(flist_path) as fl:
        node = fl.resolve(path)
        rows = [
            ("path", path),
            ("type", stat_mod.filemode(node.mode)[0].replace("-", "f")),
            ("mode", f"{stat_mod.S_IMODE(node.mode):04o} ({stat_mod.filemode(node.mode)})"),
            ("size", str(node.size)),
            ("uid", str(node.uid)),
            ("gid", str(node.gid)),
            (
                "mtime",
                f"{node.mtime} ({datetime.fromtimestamp(node.mtime, UTC):%Y-%m-%d %H:%M:%S})",
            ),
            ("ctime", str(node.ctime)),
            ("inode", str(node.ino)),
        ]
        if node.rdev:
            rows.append(("device", f"{os.major(node.rdev)},{os.minor(node.rdev)}"))
        if node.is_link:
            rows.append(("target", os.fsdecode(fl.link_target(node.ino))))
        if node.is_file:
            rows.append(("blocks", str(len(fl.blocks(node.ino)))))
            first = fl.hardlink_of(node.ino)
            if first is not None:
                rows.append(("hard link of inode", str(first)))
    for key, value in rows:
        click.echo(f"{key}: {value}")


@flist.command("cat")
@_FLIST
@click.argument("path")
@_STORES
def cat_cmd(flist_path: Path, path: str, stores: tuple[str, ...]) -> None:
    """Write the content of the file PATH to stdout."""
    from ..flist.format import Flist
    from ..flist.query import cat
    from ..flist.stores import Router, flist_routes

    out = sys.stdout.buffer
    with Flist.open(flist_path) as fl:
        store = Router(flist_routes(fl, list(stores)), timeout=10.0)
        try:
            cat(fl, store, path, out)
        finally:
            store.close()
    out.flush()


@flist.group()
def tag() -> None:
    """Read and change an flist's tags (key = value)."""


@tag.command("get")
@_FLIST
@click.argument("key", required=False)
def tag_get(flist_path: Path, key: str | None) -> None:
    """Print the tag KEY's value, or every tag as KEY=VALUE lines."""
    from ..flist.errors import FlistError
    from ..flist.format import Flist

    with Flist.open(flist_path) as fl:
        if key is None:
            for name, value in fl.tags().items():
                click.echo(f"{name}={value}")
            return
        found = fl.tag(key)
    if found is None:
        raise FlistError(f"{flist_path}: no tag {key!r}")
    click.echo(found)


@tag.command("set")
@_FLIST
@click.argument("key")
@click.argument("value")
def tag_set(flist_path: Path, key: str, value: str) -> None:
    """Set the tag KEY to VALUE."""
    from ..flist.edit import set_tag

    set_tag(flist_path, key, value)


@tag.command("rm")
@_FLIST
@click.argument("key")
def tag_rm(flist_path: Path, key: str) -> None:
    """Remove the tag KEY."""
    from ..flist.edit import remove_tag

    remove_tag(flist_path, key)


@flist.command("put")
@_FLIST
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.argument("dest")
@_STORES
def put_cmd(flist_path: Path, src: Path, dest: str, stores: tuple[str, ...]) -> None:
    """Copy the local file or directory SRC into NAME.fl at DEST (content to its stores)."""
    from ..flist.edit import put

    total = _tree_size(src) if src.is_dir() else src.lstat().st_size
    with progress_bar("put", total) as advance:
        report = put(flist_path, src, dest, store_urls=list(stores) or None, progress=advance)
    click.echo(f"{dest}: {report.entries} entries, {report.upload.stored_blocks} blocks uploaded")


@flist.command("rm")
@_FLIST
@click.argument("path")
@click.option("-r", "--recursive", is_flag=True, help="Remove a directory and its content.")
def rm_cmd(flist_path: Path, path: str, recursive: bool) -> None:
    """Remove the entry PATH from NAME.fl (its blocks stay in the stores)."""
    from ..flist.edit import remove

    remove(flist_path, path, recursive=recursive)


def _mode(text: str) -> int:
    try:
        value = int(text, 8)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an octal mode like 755") from None
    if not 0 <= value <= 0o7777:
        raise click.BadParameter(f"{text!r} is not a mode between 0 and 7777")
    return value


@flist.command("mkdir")
@_FLIST
@click.argument("path")
@click.option("-m", "--mode", default="755", show_default=True, help="Octal permissions.")
@click.option("-p", "--parents", is_flag=True, help="Make missing parents too.")
def mkdir_cmd(flist_path: Path, path: str, mode: str, parents: bool) -> None:
    """Make the directory PATH in NAME.fl."""
    from ..flist.edit import mkdir

    mkdir(flist_path, path, mode=_mode(mode), parents=parents)


@flist.command("chmod")
@_FLIST
@click.argument("mode")
@click.argument("path")
def chmod_cmd(flist_path: Path, mode: str, path: str) -> None:
    """Set the permissions of PATH to the octal MODE."""
    from ..flist.edit import chmod

    chmod(flist_path, path, _mode(mode))


@flist.command("merge")
@click.argument("layers", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path))
def merge_cmd(layers: tuple[Path, ...], output: Path) -> None:
    """Merge LAYERS (lowest first) into one flist; later layers and their whiteouts win."""
    from ..flist.merge import merge

    count = merge(list(layers), output)
    click.echo(f"{output}: {count} entries from {len(layers)} layers")


@flist.command("diff")
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.pass_context
def diff_cmd(ctx: click.Context, a: Path, b: Path) -> None:
    """Show what changed from flist A to flist B (+ added, - removed, M changed); exit 1 if any."""
    from ..flist.format import Flist
    from ..flist.query import diff

    with Flist.open(a) as fa, Flist.open(b) as fb:
        changes = diff(fa, fb)
    for change in changes:
        click.echo(str(change))
    if changes:
        ctx.exit(1)


@flist.command("check")
@_FLIST
@click.option(
    "--repair", is_flag=True, help="Rewrite bad copies from good ones; rebuild zstor shards."
)
@_STORES
@click.pass_context
def check_cmd(ctx: click.Context, flist_path: Path, repair: bool, stores: tuple[str, ...]) -> None:
    """Check that every block of NAME.fl is in its stores and intact; exit 1 if not."""
    from ..flist.check import check

    report = check(str(flist_path), repair=repair, store_urls=list(stores) or None)
    for line in report.problems:
        click.echo(f"bad: {line}", err=True)
    click.echo(
        f"{report.blocks} blocks: {report.ok} intact, {report.repaired} repaired, "
        f"{len(report.problems)} problems"
    )
    if not report.healthy:
        ctx.exit(1)


@flist.command("info")
@_FLIST
def info_cmd(flist_path: Path) -> None:
    """Show NAME.fl's entry counts, total and unique bytes, stores and tags."""
    from rich.console import Console
    from rich.table import Table

    from ..flist.format import Flist
    from ..flist.query import info
    from ..flist.stores import redact

    with Flist.open(flist_path) as fl:
        facts = info(fl)
        block_size = fl.block_size
    table = Table(title=str(flist_path), show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row("files", str(facts.files))
    table.add_row("directories", str(facts.dirs))
    table.add_row("symlinks", str(facts.links))
    table.add_row("other entries", str(facts.other))
    table.add_row("total bytes", f"{facts.total_bytes} ({human_size(facts.total_bytes)})")
    table.add_row("unique bytes", f"{facts.unique_bytes} ({human_size(facts.unique_bytes)})")
    table.add_row("blocks", f"{facts.blocks} ({facts.unique_blocks} unique, {block_size} B each)")
    for route in facts.routes:
        table.add_row("store", f"{route.start:02x}-{route.end:02x} {redact(route.url)}")
    for key, value in facts.tags.items():
        table.add_row(f"tag {key}", value)
    Console(width=120).print(table)


@flist.command("import-image")
@click.argument("archive", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="NAME.fl")
@click.option("--store", "-s", "stores", multiple=True, required=True, metavar="[XX-YY=]URL")
@click.option("--block-size", type=SIZE, default="512K", show_default=True)
@click.option("--allow-devices", is_flag=True, help="Accept device nodes from the layers.")
@click.option("--max-size", type=SIZE, default="1T", show_default=True)
@_ID_CACHE
@_NO_ID_CACHE
def import_image_cmd(
    archive: Path,
    output: Path,
    stores: tuple[str, ...],
    block_size: int,
    allow_devices: bool,
    max_size: int,
    id_cache: Path,
    no_id_cache: bool,
) -> None:
    """Make an flist from an OCI image layout or a `docker save` tarball ARCHIVE."""
    from ..flist.image import import_image

    with progress_bar("import", None) as advance:
        report = import_image(
            archive,
            output,
            list(stores),
            block_size=block_size,
            allow_devices=allow_devices,
            max_bytes=max_size,
            progress=advance,
            id_cache=None if no_id_cache else id_cache,
        )
    click.echo(
        f"{output}: {report.entries} entries, {report.files} files, "
        f"{human_size(report.total_bytes)}; {report.upload.stored_blocks} blocks uploaded"
    )
