"""`zos flist`: make, read, edit, merge, check and extract flists (docs/flist.md)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from .output import human_size, progress_bar
from .util import SIZE


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
def create(
    src: Path,
    output: Path,
    stores: tuple[str, ...],
    block_size: int,
    tags: tuple[str, ...],
    allow_devices: bool,
    max_size: int,
    workers: int | None,
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
