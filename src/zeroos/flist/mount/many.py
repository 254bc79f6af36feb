"""Many flists on one FUSE mount, served by one long-lived process: a folder per flist.

pyfuse3 serves one mount per process. A node running many containers starts this once; each
container's root is then an overlay on its flist's folder here, so starting a container costs
a request on a socket and an overlay mount, not a process. Each flist's inode numbers are moved
into a range of their own (``slot << 32``) so that one kernel inode table holds them all, and a
slot is never given twice while the process lives (a removed flist's inodes the kernel still
holds can never name another one's files).

Flists are added and removed while it serves, over a unix socket in the abstract namespace
(nothing on disk to go stale): one JSON request a connection, one JSON answer (`ManyClient`).
"""

from __future__ import annotations

# first: the no-open shim must be loaded before pyfuse3, which binds libfuse on import
from . import noopen

# isort: split
import contextlib
import errno
import json
import logging
import os
import re
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyfuse3
import trio

from ..errors import FlistError
from ..format import Flist
from ..models import BlockRef, Inode
from ..stores import Router
from . import _open_stores
from .cache import BlockCache
from .fs import FlistOperations
from .many_client import REQUEST_BYTES, control_address
from .reader import BlockReader
from .system import SUBTYPE, MountError, mounted_at, mounts, set_read_ahead

__all__ = ["ManyOperations", "serve_many"]

log = logging.getLogger(__name__)

_SLOT_BITS = 32
_LOW = (1 << _SLOT_BITS) - 1
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")
_REQUEST_TIMEOUT = 10.0  # seconds a client has to send its request
_ROOT_TTL = 1.0  # the root's listing changes as flists come and go
_ORPHAN_CHECK = 2.0  # seconds between looks at whether anything still needs the service
_FIRST_HOLD = 60.0  # seconds a new service waits for its first node to hold it
_READ_AHEAD_KIB = 1024


class _ShiftedFlist(Flist):
    """An flist whose inode numbers are moved up by ``shift`` (its slot's range)."""

    shift = 0

    def _out(self, node: Inode) -> Inode:
        parent = node.parent + self.shift if node.parent else 0
        return replace(node, ino=node.ino + self.shift, parent=parent)

    def inode(self, ino: int) -> Inode:
        return self._out(super().inode(ino - self.shift))

    def lookup(self, parent_ino: int, name: str) -> Inode | None:
        found = super().lookup(parent_ino - self.shift, name)
        return None if found is None else self._out(found)

    def children(self, ino: int) -> list[Inode]:
        return [self._out(c) for c in super().children(ino - self.shift)]

    def link_target(self, ino: int) -> bytes:
        return super().link_target(ino - self.shift)

    def blocks(self, ino: int) -> list[BlockRef]:
        return super().blocks(ino - self.shift)

    def blocks_of(self, inos: Sequence[int]) -> dict[int, list[BlockRef]]:
        found = super().blocks_of([ino - self.shift for ino in inos])
        return {ino + self.shift: refs for ino, refs in found.items()}

    def hardlink_of(self, ino: int) -> int | None:
        target = super().hardlink_of(ino - self.shift)
        return None if target is None else target + self.shift

    def link_counts(self) -> dict[int, int]:
        return {ino + self.shift: n for ino, n in super().link_counts().items()}


@dataclass
class _Member:
    """One flist served under the mount: its folder's name, its inode range, its readers."""

    name: str
    slot: int
    path: Path
    flist: _ShiftedFlist
    store: Router
    reader: BlockReader
    ops: FlistOperations

    @property
    def root_ino(self) -> int:
        return self.flist.shift + 1

    def close(self) -> None:
        self.reader.close()
        self.store.close()
        self.flist.close()


class ManyOperations(pyfuse3.Operations):
    """Answers the kernel for the mount: its root lists the flists, the rest goes to theirs."""

    def __init__(self, cache: BlockCache, *, timeout: float, workers: int) -> None:
        super().__init__()
        self.cache = cache
        self.timeout = timeout
        self.workers = workers
        self.no_open = False
        self.members: dict[str, _Member] = {}
        self._slots: dict[int, _Member] = {}
        self._next_slot = 1
        self._lock = threading.Lock()

    # -- members ---------------------------------------------------------------------------
    def add(self, name: str, path: Path) -> bool:
        """Serve the flist at ``path`` as folder ``name``; False when it is served already."""
        if not _NAME.fullmatch(name):
            raise MountError(f"{name!r} is no folder name (letters, digits, '.', '_', '-')")
        with self._lock:
            member = self.members.get(name)
            if member is not None:
                if member.path != path.resolve():
                    raise MountError(f"{name} serves {member.path} already, not {path}")
                return False
            slot = self._next_slot
            self._next_slot += 1
        flist = _ShiftedFlist.open(path)
        try:
            flist.shift = slot << _SLOT_BITS
            routes = flist.routes()
            if not routes:
                raise MountError(f"{path} names no store to read its blocks from")
            store = Router(routes, self.timeout)
        except BaseException:
            flist.close()
            raise
        threading.Thread(target=_open_stores, args=(store,), daemon=True).start()
        reader = BlockReader(store, self.cache, timeout=self.timeout, workers=self.workers)
        ops = FlistOperations(flist, reader, no_open=self.no_open)
        member = _Member(name, slot, path.resolve(), flist, store, reader, ops)
        with self._lock:
            if name in self.members:  # added meanwhile by another request: keep that one
                member.close()
                return False
            self.members[name] = member
            self._slots[slot] = member
        return True

    def remove(self, name: str) -> bool:
        """Stop serving folder ``name``; False when it was not served."""
        with self._lock:
            member = self.members.pop(name, None)
            if member is None:
                return False
            del self._slots[member.slot]
        pyfuse3.invalidate_entry_async(pyfuse3.ROOT_INODE, os.fsencode(name), ignore_enoent=True)
        member.close()
        return True

    def close(self) -> None:
        for name in list(self.members):
            member = self.members.pop(name)
            member.close()
        self._slots.clear()

    def _member(self, number: int) -> _Member:
        member = self._slots.get(number >> _SLOT_BITS)
        if member is None:
            raise pyfuse3.FUSEError(errno.ESTALE)  # of an flist removed since
        return member

    def _handle(self, member: _Member, fh: int) -> int:
        # in no-open mode handles are inode numbers (global already); otherwise the member's
        # own handle sits in the low bits
        return fh if self.no_open else fh & _LOW

    # -- the root --------------------------------------------------------------------------
    def _root_attributes(self) -> pyfuse3.EntryAttributes:
        attr = pyfuse3.EntryAttributes()
        attr.st_ino = pyfuse3.ROOT_INODE
        attr.st_mode = stat.S_IFDIR | 0o755
        attr.st_nlink = 1
        attr.entry_timeout = attr.attr_timeout = _ROOT_TTL
        attr.st_blksize = 4096
        return attr

    def _listing(self) -> list[tuple[bytes, pyfuse3.EntryAttributes]]:
        with self._lock:
            members = sorted(self.members.values(), key=lambda m: m.slot)
        return [(os.fsencode(m.name), _member_root(m)) for m in members]

    # -- requests --------------------------------------------------------------------------
    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        if parent_inode == pyfuse3.ROOT_INODE:
            if name in (b".", b".."):
                return self._root_attributes()
            member = self.members.get(os.fsdecode(name))
            if member is None:
                raise pyfuse3.FUSEError(errno.ENOENT)
            return _member_root(member)
        member = self._member(parent_inode)
        if name == b".." and parent_inode == member.root_ino:
            return self._root_attributes()
        return await member.ops.lookup(parent_inode, name, ctx)

    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        if inode == pyfuse3.ROOT_INODE:
            return self._root_attributes()
        return await self._member(inode).ops.getattr(inode, ctx)

    async def readlink(self, inode: int, ctx: pyfuse3.RequestContext) -> bytes:
        return await self._member(inode).ops.readlink(inode, ctx)

    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        if self.no_open:
            raise pyfuse3.FUSEError(errno.ENOSYS)  # the kernel keeps listings itself
        if inode == pyfuse3.ROOT_INODE:
            return pyfuse3.ROOT_INODE  # slot 0: the root's listing is built on each readdir
        member = self._member(inode)
        return member.slot << _SLOT_BITS | await member.ops.opendir(inode, ctx)

    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        if fh >> _SLOT_BITS == 0:  # the root (its inode, or its handle)
            listing = self._listing()
            for index in range(start_id, len(listing)):
                name, attr = listing[index]
                if not pyfuse3.readdir_reply(token, name, attr, index + 1):
                    break
            return
        member = self._member(fh)
        await member.ops.readdir(self._handle(member, fh), start_id, token)

    async def releasedir(self, fh: int) -> None:
        if fh >> _SLOT_BITS:
            member = self._slots.get(fh >> _SLOT_BITS)
            if member is not None:
                await member.ops.releasedir(self._handle(member, fh))

    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        if inode == pyfuse3.ROOT_INODE:
            raise pyfuse3.FUSEError(errno.EISDIR)
        member = self._member(inode)
        info = await member.ops.open(inode, flags, ctx)
        info.fh = member.slot << _SLOT_BITS | info.fh
        return info

    # pyfuse3 takes any buffer (the member hands out views of its blocks, not copies)
    async def read(self, fh: int, off: int, size: int) -> bytes | memoryview:  # type: ignore[override]
        member = self._member(fh)
        return await member.ops.read(self._handle(member, fh), off, size)

    async def release(self, fh: int) -> None:
        member = self._slots.get(fh >> _SLOT_BITS)
        if member is not None:
            await member.ops.release(self._handle(member, fh))

    async def getxattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> bytes:
        raise pyfuse3.FUSEError(errno.ENOSYS)  # asked once; the kernel stops asking

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        data = pyfuse3.StatvfsData()
        data.f_bsize = data.f_frsize = 4096
        data.f_namemax = 255
        return data


def _member_root(member: _Member) -> pyfuse3.EntryAttributes:
    """The attributes of a member's folder: its flist's root directory."""
    node = member.flist.inode(member.root_ino)
    attr = pyfuse3.EntryAttributes()
    attr.st_ino = node.ino
    attr.st_mode = node.mode
    attr.st_nlink = 1
    attr.st_uid, attr.st_gid = node.uid, node.gid
    attr.entry_timeout = _ROOT_TTL
    attr.attr_timeout = 3600.0  # the flist never changes under its folder
    attr.st_blksize = 4096
    attr.st_mtime_ns = attr.st_atime_ns = node.mtime * 1_000_000_000
    attr.st_ctime_ns = node.ctime * 1_000_000_000
    return attr


def serve_many(
    mountpoint: Path,
    *,
    cache_dir: Path,
    cache_bytes: int,
    timeout: float = 10.0,
    workers: int = 4,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Mount an empty tree at ``mountpoint`` and serve flists added to it over the control
    socket (`control_address`), until unmounted, asked to stop, SIGTERM or SIGINT."""
    mountpoint = mountpoint.resolve()
    if not mountpoint.is_dir():
        raise MountError(f"mount point {mountpoint} is not a directory")
    if mounted_at(mountpoint) is not None:
        raise MountError(f"something is already mounted at {mountpoint}")
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        control.bind(control_address(mountpoint))
    except OSError as exc:
        control.close()
        raise MountError(
            f"another service serves {mountpoint} already ({exc.strerror})",
            hint="stop it, or use another mount point",
        ) from exc
    control.listen(64)
    try:
        cache = BlockCache(cache_dir, cache_bytes)
    except OSError as exc:
        control.close()
        raise MountError(f"cannot use {cache_dir} as the block cache: {exc.strerror}") from exc
    operations = ManyOperations(cache, timeout=timeout, workers=workers)
    options = set(pyfuse3.default_options) | {
        "ro",
        "suid",  # a container's root holds setuid programs (devices stay off: nodev)
        "allow_other",  # containers run as many users; default_permissions checks modes
        "fsname=zos-flists",
        f"subtype={SUBTYPE}",
    }
    try:
        armed = noopen.arm()
        try:
            pyfuse3.init(operations, str(mountpoint), options)
        except RuntimeError as exc:
            raise MountError(f"cannot mount at {mountpoint}: {exc}") from exc
        operations.no_open = armed and noopen.engaged()

        def settle() -> None:
            os.stat(mountpoint)  # returns once the kernel's INIT is answered
            set_read_ahead(mountpoint, _READ_AHEAD_KIB)

        try:
            trio.run(_serve, operations, control, mountpoint, settle, on_ready)
        finally:
            pyfuse3.close(unmount=True)
    finally:
        control.close()
        operations.close()
        cache.close()


class _Holders:
    """The nodes holding the service (a connection each, open as long as the node runs)."""

    def __init__(self) -> None:
        self.count = 0
        self.ever = False
        self.started = time.monotonic()

    async def hold(self, stream: trio.SocketStream) -> None:
        self.count += 1
        self.ever = True
        try:
            while await stream.receive_some(1024):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.count -= 1

    def orphaned(self, mountpoint: Path) -> bool:
        """No node holds it (since one did, or for a while after the start) and no overlay
        stands on its folders: whoever started it is gone and nothing needs it."""
        if self.count or not (self.ever or time.monotonic() - self.started > _FIRST_HOLD):
            return False
        under = f"{mountpoint}/"
        return not any(
            e.fstype == "overlay" and e.options.get("lowerdir", "").startswith(under)
            for e in mounts()
        )


async def _serve(
    operations: ManyOperations,
    control: socket.socket,
    mountpoint: Path,
    settle: Callable[[], None],
    on_ready: Callable[[], None] | None,
) -> None:
    """Run the FUSE loop and the control socket until a stop, a signal, an unmount, or no
    node holding it any more with no root on it (see _Holders)."""
    stop = trio.Event()
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:

            async def fuse_loop() -> None:
                await pyfuse3.main()
                nursery.cancel_scope.cancel()  # terminated, or unmounted from outside

            async def on_signal() -> None:
                async for signum in signals:
                    log.info("event=signal signal=%s", signal.Signals(signum).name)
                    break
                stop.set()

            async def answer(stream: trio.SocketStream) -> None:
                async with stream:
                    reply, action = await _answer(operations, stream)
                    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                        await stream.send_all(json.dumps(reply).encode() + b"\n")
                        if action == "hold":
                            await holders.hold(stream)
                if action == "stop":
                    stop.set()

            async def orphaned() -> None:
                while not holders.orphaned(mountpoint):
                    await trio.sleep(_ORPHAN_CHECK)
                log.info("event=orphaned reason='no node holds it, no root stands on it'")
                stop.set()

            holders = _Holders()
            nursery.start_soon(fuse_loop)
            nursery.start_soon(on_signal)
            nursery.start_soon(orphaned)
            await trio.to_thread.run_sync(settle)
            listener = trio.SocketListener(trio.socket.from_stdlib_socket(control))
            nursery.start_soon(trio.serve_listeners, answer, [listener])
            if on_ready is not None:
                on_ready()
            await stop.wait()
            pyfuse3.terminate()


async def _answer(
    operations: ManyOperations, stream: trio.SocketStream
) -> tuple[dict[str, Any], str]:
    """The answer to one request, and what follows it: "stop", "hold" (the connection is kept:
    the node holding it runs), or nothing."""
    data = b""
    with trio.move_on_after(_REQUEST_TIMEOUT):
        while not data.endswith(b"\n") and len(data) < REQUEST_BYTES:
            chunk = await stream.receive_some(REQUEST_BYTES)
            if not chunk:
                break
            data += chunk
    try:
        request = json.loads(data)
        op = request["op"]
    except (ValueError, TypeError, KeyError):
        return {"ok": False, "error": "a request is one JSON object with an 'op'"}, ""
    try:
        if op == "add":
            added = await trio.to_thread.run_sync(
                operations.add, str(request["name"]), Path(str(request["flist"]))
            )
            log.info("event=flist_added name=%s new=%s", request["name"], added)
            return {"ok": True, "added": added}, ""
        if op == "remove":
            removed = await trio.to_thread.run_sync(operations.remove, str(request["name"]))
            log.info("event=flist_removed name=%s was=%s", request["name"], removed)
            return {"ok": True, "removed": removed}, ""
        if op == "list":
            return {"ok": True, "names": sorted(operations.members), "pid": os.getpid()}, ""
        if op == "stop":
            return {"ok": True}, "stop"
        if op == "hold":
            return {"ok": True}, "hold"
    except KeyError as exc:
        return {"ok": False, "error": f"{op}: missing {exc.args[0]!r}"}, ""
    except FlistError as exc:
        return {"ok": False, "error": str(exc)}, ""
    return {"ok": False, "error": f"unknown op {op!r}"}, ""
