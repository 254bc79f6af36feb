"""Mount an flist on FUSE: the tree at once from its database, file bytes block by block.

`mount` serves until the mount goes (`unmount`, umount(8)) or the process gets SIGTERM or
SIGINT, and always leaves nothing mounted behind it. With ``rw=True`` an overlayfs is put on
top, so a container may change its root while the flist and the shared cache stay untouched.
"""

from __future__ import annotations

# first: the no-open shim must be loaded before pyfuse3, which binds libfuse on import
from . import noopen

# isort: split
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyfuse3
import trio

from ..errors import FlistError
from ..format import Flist
from ..stores import Router
from .cache import BlockCache
from .fs import FlistOperations
from .reader import BlockReader
from .system import (
    SUBTYPE,
    MountError,
    mount_overlay,
    mounted_at,
    set_read_ahead,
    unmount,
    unmount_quietly,
)

__all__ = ["DEFAULT_CACHE_BYTES", "BlockCache", "MountError", "mount", "unmount"]

log = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 4 * 1024**3
# The kernel's read-ahead on a mount (FUSE's default is 128 KiB): reads of up to a MiB, so a
# cold sequential read is a few requests per block rather than one per 128 KiB.
_READ_AHEAD_KIB = 1024


@dataclass(frozen=True, slots=True)
class _Overlay:
    """Where a writable mount keeps its parts: the FUSE mount, the changes, overlayfs' work dir."""

    lower: Path
    upper: Path
    work: Path
    target: Path

    @classmethod
    def beside(cls, folder: Path, target: Path) -> _Overlay:
        for part in ("lower", "upper", "work"):
            (folder / part).mkdir(parents=True, exist_ok=True)
        return cls(folder / "lower", folder / "upper", folder / "work", target)

    def mount(self) -> None:
        mount_overlay(self.lower, self.upper, self.work, self.target)


def mount(
    flist_path: Path,
    mountpoint: Path,
    *,
    cache_dir: Path,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    rw: bool = False,
    rw_dir: Path | None = None,
    timeout: float = 10.0,
    workers: int = 4,
    open_requests: bool = False,
    stats: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Mount an flist at `mountpoint` and serve it until it is unmounted or signalled.

    Blocks come from the stores the flist's routes name, through the block cache in
    `cache_dir` (shared with other mounts; at most `cache_bytes`). A block not had within
    `timeout` seconds fails its read with EIO. With `rw`, the FUSE mount goes to
    `rw_dir/lower` and an overlay with `rw_dir/upper` (the changes) goes on `mountpoint`;
    `rw_dir` defaults to `MOUNTPOINT.rw` beside it.

    The kernel opens files and directories without asking the process (FUSE's no-open mode,
    see noopen.py), so a file whose pages it holds is read at page-cache speed; with
    `open_requests`, or where the C shim for that is not built, every open is a request.
    With `stats`, the root's extended attribute user.zos.requests counts the requests served.
    """
    mountpoint = mountpoint.resolve()
    if not mountpoint.is_dir():
        raise MountError(f"mount point {mountpoint} is not a directory")
    if mounted_at(mountpoint) is not None:
        raise MountError(f"something is already mounted at {mountpoint}")
    overlay = None
    if rw:
        folder = (rw_dir or mountpoint.with_name(mountpoint.name + ".rw")).resolve()
        try:
            overlay = _Overlay.beside(folder, mountpoint)
        except OSError as exc:
            raise MountError(f"cannot keep the changes in {folder}: {exc.strerror}") from exc
        if mounted_at(overlay.lower) is not None:  # left by a server that was killed
            raise MountError(
                f"something is already mounted at {overlay.lower}",
                hint=f"zos flist umount {overlay.lower}",
            )
    with Flist.open(flist_path) as flist:
        routes = flist.routes()
        if not routes:
            raise MountError(f"{flist_path} names no store to read its blocks from")
        store = Router(routes, timeout)
        # the stores' clients (their imports, a fifth of a second; no network yet) are made
        # while the cache is opened, and before the mount shows: the first reads neither wait
        # for them nor share the interpreter with them
        opener = threading.Thread(target=_open_stores, args=(store,), daemon=True)
        opener.start()
        try:
            cache = BlockCache(cache_dir, cache_bytes)
        except OSError as exc:
            opener.join()
            store.close()
            raise MountError(f"cannot use {cache_dir} as the block cache: {exc.strerror}") from exc
        reader = BlockReader(store, cache, timeout=timeout, workers=workers)
        fuse_at = overlay.lower if overlay else mountpoint
        options = set(pyfuse3.default_options) | {
            "ro",
            "suid",  # a container's root holds setuid programs (devices stay off: nodev)
            "allow_other",  # containers run as many users; default_permissions checks modes
            # libfuse splits options at commas; a backslash keeps one in the name
            "fsname=" + str(flist_path.resolve()).replace("\\", "\\\\").replace(",", "\\,"),
            f"subtype={SUBTYPE}",
        }
        operations = FlistOperations(flist, reader, stats=stats)
        try:
            opener.join()
            armed = not open_requests and noopen.arm()
            try:
                pyfuse3.init(operations, str(fuse_at), options)
            except RuntimeError as exc:  # libfuse said why on stderr already
                raise MountError(f"cannot mount {flist_path} at {fuse_at}: {exc}") from exc
            # the kernel sends nothing before the loop runs: the mode is set before any request
            operations.no_open = armed and noopen.engaged()
            if armed and not operations.no_open:
                log.warning("event=no_open_unavailable reason=shim_not_reached")
            read_ahead = max(_READ_AHEAD_KIB, flist.block_size // 1024)

            def settle() -> None:
                os.stat(fuse_at)  # returns once the kernel's INIT is answered: it sets read-ahead
                set_read_ahead(fuse_at, read_ahead)

            try:
                trio.run(_serve, settle, overlay, on_ready)
            finally:
                if overlay is not None:
                    unmount_quietly(overlay.target)
                pyfuse3.close(unmount=True)
        finally:
            reader.close()
            cache.close()
            store.close()


def _open_stores(store: Router) -> None:
    for route in store.routes:
        try:
            opened = store.store(route.url)
            open_trio = getattr(opened, "open_trio", None)  # zero-db's client for the loop
            if open_trio is not None:
                open_trio()
        except FlistError as exc:  # the first read that needs it says so
            log.warning("event=store_unusable error=%s", exc)


async def _serve(
    settle: Callable[[], None], overlay: _Overlay | None, on_ready: Callable[[], None] | None
) -> None:
    """Run the FUSE loop until the mount goes away or SIGTERM/SIGINT arrives.

    `settle` runs in a thread once the loop serves, before the overlay and `on_ready`.
    """
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:

            async def fuse_loop() -> None:
                await pyfuse3.main()
                nursery.cancel_scope.cancel()  # unmounted from outside: stop waiting for signals

            nursery.start_soon(fuse_loop)
            await trio.to_thread.run_sync(settle)
            if overlay is not None:
                # overlayfs looks at the FUSE mount's root while mounting: the loop must run
                await trio.to_thread.run_sync(overlay.mount)
            if on_ready is not None:
                on_ready()
            async for signum in signals:
                log.info("event=signal signal=%s", signal.Signals(signum).name)
                break
            if overlay is not None:
                await trio.to_thread.run_sync(unmount_quietly, overlay.target)
            pyfuse3.terminate()
