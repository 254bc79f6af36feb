"""`zos flist mount` and `zos flist umount`: an flist as a live file tree on FUSE."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..common.log import setup_logging
from .util import SIZE


def _default_cache() -> Path:
    if os.geteuid() == 0:
        return Path("/var/cache/zos/blocks")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zos" / "blocks"


@click.command("mount")
@click.argument("flist_path", metavar="NAME.fl", type=click.Path(exists=True, dir_okay=False))
@click.argument("mountpoint", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False),
    help="block cache shared by every mount [default: /var/cache/zos/blocks as root, "
    "else ~/.cache/zos/blocks]",
)
@click.option(
    "--cache-size",
    type=SIZE,
    default="4G",
    show_default=True,
    help="bound of the block cache (least recently used blocks go first)",
)
@click.option(
    "--rw",
    is_flag=True,
    help="put a writable overlay on top: changes land in --rw-dir, not in the flist",
)
@click.option(
    "--rw-dir",
    type=click.Path(file_okay=False),
    help="where --rw keeps its changes [default: MOUNTPOINT.rw]",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="seconds a read waits for a block before it fails with EIO",
)
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def mount_cmd(
    flist_path: str,
    mountpoint: str,
    cache_dir: str | None,
    cache_size: int,
    rw: bool,
    rw_dir: str | None,
    timeout: float,
    verbose: bool,
) -> None:
    """Mount NAME.fl at MOUNTPOINT and serve it until unmounted, SIGTERM or Ctrl-C.

    Listing and stat come from the flist itself; file bytes are fetched block by block on
    first read, checked, and kept in the shared cache.
    """
    from ..flist.mount import mount

    setup_logging(verbose)
    mount(
        Path(flist_path),
        Path(mountpoint),
        cache_dir=Path(cache_dir) if cache_dir else _default_cache(),
        cache_bytes=cache_size,
        rw=rw,
        rw_dir=Path(rw_dir) if rw_dir else None,
        timeout=timeout,
    )


@click.command("umount")
@click.argument("mountpoint", type=click.Path(exists=True, file_okay=False))
def umount_cmd(mountpoint: str) -> None:
    """Unmount an flist mounted at MOUNTPOINT (and its --rw overlay); its server then exits."""
    from ..flist.mount import unmount

    unmount(Path(mountpoint))
