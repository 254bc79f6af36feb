"""`zos flist mount` and `zos flist umount`: an flist as a live file tree on FUSE."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

import click

from ..common.errors import ZosError
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
@click.option(
    "-d",
    "--daemon",
    is_flag=True,
    help="return once mounted, serving from the background (its log goes to --log)",
)
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False),
    help="with --daemon: append the server's log to this file [default: discard it]",
)
@click.option(
    "--open-requests",
    is_flag=True,
    help="answer every open in this process (slower warm reads; the kernel otherwise opens "
    "files of the read-only flist without asking)",
)
@click.option(
    "--stats",
    is_flag=True,
    help="count the requests served, by operation, in the root's user.zos.requests attribute",
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
    daemon: bool,
    log_path: str | None,
    open_requests: bool,
    stats: bool,
    verbose: bool,
) -> None:
    """Mount NAME.fl at MOUNTPOINT and serve it until unmounted, SIGTERM or Ctrl-C.

    Listing and stat come from the flist itself; file bytes are fetched block by block on
    first read, checked, and kept in the shared cache.
    """
    from ..flist.mount import mount

    def serve(on_ready: Callable[[], None] | None = None) -> None:
        mount(
            Path(flist_path),
            Path(mountpoint),
            cache_dir=Path(cache_dir) if cache_dir else _default_cache(),
            cache_bytes=cache_size,
            rw=rw,
            rw_dir=Path(rw_dir) if rw_dir else None,
            timeout=timeout,
            open_requests=open_requests,
            stats=stats,
            on_ready=on_ready,
        )

    if daemon:
        _serve_in_background(serve, log_path, verbose)
    else:
        setup_logging(verbose)
        serve()


def _serve_in_background(
    serve: Callable[[Callable[[], None]], None], log_path: str | None, verbose: bool
) -> None:
    """Fork a server that detaches; exit once it has mounted, or fail with its error line."""
    from ..flist.mount import MountError

    read_end, write_end = os.pipe()
    if os.fork():
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            said = pipe.read().decode(errors="replace")
        if said != "ok":
            raise MountError(said or "the mount server died before mounting")
        return
    # the server: its own session, no terminal, its log in --log
    os.close(read_end)
    os.setsid()
    sink = os.open(log_path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(sink, 1)
    os.dup2(sink, 2)
    setup_logging(verbose)

    def ready() -> None:
        os.write(write_end, b"ok")
        os.close(write_end)

    code = 0
    try:
        serve(ready)
    except ZosError as exc:
        with contextlib.suppress(OSError):
            os.write(write_end, str(exc).encode())
        code = 1
    except BaseException:
        logging.getLogger(__name__).exception("event=server_failed")
        code = 1
    os._exit(code)  # never return into the parent's click machinery


@click.command("umount")
@click.argument("mountpoint", type=click.Path(exists=True, file_okay=False))
def umount_cmd(mountpoint: str) -> None:
    """Unmount an flist mounted at MOUNTPOINT (and its --rw overlay); its server then exits."""
    from ..flist.mount import unmount

    unmount(Path(mountpoint))
