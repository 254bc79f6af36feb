"""The FUSE operations of a read-only flist: metadata from the database, bytes block by block."""

from __future__ import annotations

import errno
import itertools
import json
import logging
import os
import stat
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass

import pyfuse3

from ..errors import FlistError
from ..format import Flist
from ..models import BlockRef, Inode
from .reader import BlockReader

log = logging.getLogger(__name__)

# An flist never changes under a mount, so the kernel may keep names and attributes for long.
_TTL = 3600.0
# Blocks fetched ahead of a sequential reader, at most (the window doubles from 1).
_MAX_AHEAD = 16
# Files of a directory whose first block is fetched ahead of a reader going through them in
# order (tar, cp -r, a scan): small files are one block each, and one fetch at a time is slow.
# They are asked for in batches (one query, one store request): when half of them are read.
_FILES_AHEAD = 16
# Bytes of a file's blocks asked of a store in one request, about.
_REQUEST_BYTES = 1024 * 1024
_DIRS_REMEMBERED = 16
# A directory listed this soon after files were read in directory order is read next.
_TREE_READER_SECONDS = 2.0
# Files whose read state (blocks, prefetch window) is kept without open requests to hold it.
_FILES_REMEMBERED = 1024
# The extended attribute of the root that holds the requests served so far, as JSON.
STATS_XATTR = b"user.zos.requests"


@dataclass
class _Open:
    """One open file: its blocks, and how far ahead of its reader they are being fetched.

    The blocks are looked up, and the next files' first blocks fetched, on the first read that
    reaches the mount: a file whose pages the kernel still holds is opened and closed for free.
    """

    inode: Inode
    next_files: list[int]  # files after this one in a directory being read in order
    blocks: list[BlockRef] | None = None
    last_block: int = 0  # the highest block a sequential reader has reached
    ahead: int = 1  # blocks to fetch ahead of it (doubles up to _MAX_AHEAD)
    prefetched: int = 0  # blocks [0, prefetched) have been asked for


_Listing = list[tuple[bytes, pyfuse3.EntryAttributes]]
_LISTINGS_REMEMBERED = 64


@dataclass
class _Walk:
    """A reader going through one directory's files: where it is, what is fetched ahead."""

    files: list[int]  # the directory's regular files, in listing order
    at: int = -1  # index of the file opened last
    fetched_upto: int = 0  # first blocks of files [.., fetched_upto) have been asked for


class FlistOperations(pyfuse3.Operations):
    """Answers the kernel for one mounted flist; every call is read-only.

    With ``no_open`` (FUSE's no-open mode, see noopen.py) open and opendir answer ENOSYS, so
    the kernel stops sending them (and release, releasedir) and keeps pages and listings
    across opens; read and readdir then get the inode where a handle would be.
    """

    def __init__(
        self, flist: Flist, reader: BlockReader, *, no_open: bool = False, stats: bool = False
    ) -> None:
        super().__init__()
        self.no_open = no_open
        # requests served, by operation: with `stats`, the root's user.zos.requests shows them
        # (without, getxattr answers ENOSYS once and the kernel stops asking: `ls -l` asks for
        # security.selinux of every file)
        self.stats = stats
        self.requests: Counter[str] = Counter()
        self._files: OrderedDict[int, _Open] = OrderedDict()  # read state by inode (no-open)
        self.flist = flist
        self.reader = reader
        self.block_size = flist.block_size
        # blocks of one file asked for in one request: about a MiB (one, at rfs' 1 MiB blocks)
        self._batch = max(1, _REQUEST_BYTES // max(self.block_size, 1))
        self._handles: dict[int, _Open] = {}
        # listings with their attributes, built once per directory: `find` and `ls -l` list
        # the same directories again and again, and the kernel does not keep listings
        self._listings: dict[int, _Listing] = {}
        self._recent: OrderedDict[int, _Listing] = OrderedDict()
        self._next_fh = itertools.count(1)
        # a hard link is a row of its own pointing at its first name's inode: the kernel sees
        # one inode (that one) with as many links as names
        self._links = flist.link_counts()
        self._walks: OrderedDict[int, _Walk] = OrderedDict()
        self._tree_read_at = -_TREE_READER_SECONDS  # when files were last read in order
        # files of the directories listed last, until their first reads take them: no query
        self._listed: OrderedDict[int, Inode] = OrderedDict()
        # block lists looked up for a prefetch, until their files' first reads take them
        self._blocks: OrderedDict[int, list[BlockRef]] = OrderedDict()

    def _attributes(self, node: Inode) -> pyfuse3.EntryAttributes:
        if self._links:
            target = self.flist.hardlink_of(node.ino)
            if target is not None:
                node = self._inode(target)
        attr = pyfuse3.EntryAttributes()
        attr.st_ino = node.ino
        attr.generation = 0
        attr.entry_timeout = _TTL
        attr.attr_timeout = _TTL
        attr.st_mode = node.mode
        attr.st_nlink = self._nlink(node)
        attr.st_uid = node.uid
        attr.st_gid = node.gid
        attr.st_rdev = node.rdev
        attr.st_size = node.size
        if stat.S_ISLNK(node.mode) and not node.size:
            # rfs records no size for a link; lstat gives the target's length
            attr.st_size = len(self.flist.link_target(node.ino))
        attr.st_blksize = 4096
        attr.st_blocks = (node.size + 511) // 512
        attr.st_mtime_ns = node.mtime * 1_000_000_000
        attr.st_atime_ns = attr.st_mtime_ns
        attr.st_ctime_ns = node.ctime * 1_000_000_000
        return attr

    def _nlink(self, node: Inode) -> int:
        # A directory says 1, as on btrfs: counting its subdirectories would cost a listing
        # of each, and tools (find) read 1 as "not counted", never as "no subdirectories".
        return 1 if stat.S_ISDIR(node.mode) else self._links.get(node.ino, 1)

    def _inode(self, ino: int) -> Inode:
        try:
            return self.flist.inode(ino)
        except FlistError as exc:
            raise pyfuse3.FUSEError(errno.ENOENT) from exc

    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        self.requests["lookup"] += 1
        if name == b".":
            return self._attributes(self._inode(parent_inode))
        if name == b"..":
            parent = self._inode(parent_inode)
            return self._attributes(self._inode(parent.parent or parent.ino))
        node = self.flist.lookup(parent_inode, os.fsdecode(name))
        if node is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self._attributes(node)

    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        self.requests["getattr"] += 1
        return self._attributes(self._inode(inode))

    async def readlink(self, inode: int, ctx: pyfuse3.RequestContext) -> bytes:
        self.requests["readlink"] += 1
        node = self._inode(inode)
        if not stat.S_ISLNK(node.mode):
            raise pyfuse3.FUSEError(errno.EINVAL)
        return self.flist.link_target(inode)

    def _listing(self, inode: int) -> _Listing:
        listing = self._recent.get(inode)
        if listing is None:
            node = self._inode(inode)
            if not stat.S_ISDIR(node.mode):
                raise pyfuse3.FUSEError(errno.ENOTDIR)
            children = self.flist.children(inode)
            listing = [(os.fsencode(c.name), self._attributes(c)) for c in children]
            # a listing is mostly followed by reads of its files (tar, cp -r, a scan)
            self._listed.update((c.ino, c) for c in children if stat.S_ISREG(c.mode))
            while len(self._listed) > _FILES_REMEMBERED:
                self._listed.popitem(last=False)
            walk = self._walk(inode, children)
            if time.monotonic() - self._tree_read_at < _TREE_READER_SECONDS:
                # a reader going through a tree file after file (tar, cp -r) lists each
                # directory just before it reads its files: their first blocks are fetched
                # now, not after the first file's read waited for its own (`find` and `ls`
                # read no file, and fetch nothing)
                stop = min(_FILES_AHEAD, len(walk.files))
                self._fetch_first_blocks(walk.files[walk.fetched_upto : stop])
                walk.fetched_upto = max(walk.fetched_upto, stop)
            self._recent[inode] = listing
            if len(self._recent) > _LISTINGS_REMEMBERED:
                self._recent.popitem(last=False)
        self._recent.move_to_end(inode)
        return listing

    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        self.requests["opendir"] += 1
        if self.no_open:
            raise pyfuse3.FUSEError(errno.ENOSYS)  # the kernel keeps the listing itself
        listing = self._listing(inode)
        fh = next(self._next_fh)
        self._listings[fh] = listing
        return fh

    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        self.requests["readdir"] += 1
        # without opendir, the handle is the directory's inode
        listing = self._listing(fh) if self.no_open else self._listings[fh]
        for index in range(start_id, len(listing)):
            name, attr = listing[index]
            if not pyfuse3.readdir_reply(token, name, attr, index + 1):
                break

    async def releasedir(self, fh: int) -> None:
        self.requests["releasedir"] += 1
        self._listings.pop(fh, None)

    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        self.requests["open"] += 1
        if self.no_open:
            # the kernel opens without us from now on; the mount is read-only (EROFS) and
            # nodev, and fifos never reach a FUSE open
            raise pyfuse3.FUSEError(errno.ENOSYS)
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND):
            raise pyfuse3.FUSEError(errno.EROFS)
        node = self._inode(inode)
        if stat.S_ISDIR(node.mode):
            raise pyfuse3.FUSEError(errno.EISDIR)
        if not stat.S_ISREG(node.mode):
            raise pyfuse3.FUSEError(errno.ENXIO)  # devices and fifos are listed, not served
        fh = next(self._next_fh)
        self._handles[fh] = _Open(node, self._next_in_walk(node))
        # the flist is immutable: pages read once stay valid for every later open
        return pyfuse3.FileInfo(fh=fh, keep_cache=True)

    def _file(self, inode: int) -> _Open:
        """The read state of a file read without open requests (the handle is its inode)."""
        handle = self._files.get(inode)
        if handle is None:
            node = self._listed.pop(inode, None) or self._inode(inode)
            if not stat.S_ISREG(node.mode):
                raise pyfuse3.FUSEError(errno.EIO)
            handle = self._files[inode] = _Open(node, self._next_in_walk(node))
            if len(self._files) > _FILES_REMEMBERED:
                self._files.popitem(last=False)
        self._files.move_to_end(inode)
        return handle

    # pyfuse3 replies with any buffer (PyObject_GetBuffer), though its annotation says bytes
    async def read(self, fh: int, off: int, size: int) -> bytes | memoryview:  # type: ignore[override]
        self.requests["read"] += 1
        handle = self._file(fh) if self.no_open else self._handles[fh]
        end = min(off + size, handle.inode.size)
        if off >= end:
            return b""
        if handle.blocks is None:
            known = self._blocks.pop(handle.inode.ino, None)
            handle.blocks = self.flist.blocks(handle.inode.ino) if known is None else known
        if handle.next_files:
            self._fetch_first_blocks(handle.next_files)
            handle.next_files = []
        blocks = handle.blocks
        first, last = off // self.block_size, (end - 1) // self.block_size
        if last >= len(blocks):
            log.error("event=blocks_missing ino=%d blocks=%d", handle.inode.ino, len(blocks))
            raise pyfuse3.FUSEError(errno.EIO)
        self._read_ahead(handle, blocks, first, last)
        if last > first:  # every block of the read is asked for before the first is waited for
            self.reader.prefetch(blocks[first + 1 : last + 1], batch=self._batch)
        parts = []
        for index in range(first, last + 1):
            try:
                plain = await self.reader.read(blocks[index])
            except FlistError as exc:
                log.error(
                    "event=read_failed ino=%d block=%d error=%s", handle.inode.ino, index, exc
                )
                raise pyfuse3.FUSEError(errno.EIO) from exc
            base = index * self.block_size
            parts.append(plain[max(off - base, 0) : end - base])
        # pyfuse3 takes any buffer: a read within one block is not copied before the kernel
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _read_ahead(self, handle: _Open, blocks: list[BlockRef], first: int, last: int) -> None:
        """Ask for the blocks after a sequential read before the reader needs them.

        Sequential means: in the block last read or the one after (the kernel's own
        readahead sends several reads at once, not always in order).
        """
        sequential = handle.last_block <= first <= handle.last_block + 1
        handle.last_block = max(last, handle.last_block if sequential else last)
        if not sequential:
            handle.ahead = 1
            # a later sequential run (a re-read once the kernel dropped the pages) is fetched
            # ahead again from where it starts
            handle.prefetched = last + 1
            return
        stop = min(last + 1 + handle.ahead, len(blocks))
        start = max(last + 1, handle.prefetched)
        if start < stop:
            self.reader.prefetch(blocks[start:stop], batch=self._batch)
            handle.prefetched = stop
        handle.ahead = min(handle.ahead * 2, _MAX_AHEAD)

    def _walk(self, parent: int, children: list[Inode] | None = None) -> _Walk:
        """The walk through a directory's files (made from its children, listed if not given)."""
        walk = self._walks.get(parent)
        if walk is None:
            if children is None:
                children = self.flist.children(parent)
            files = [c.ino for c in children if stat.S_ISREG(c.mode)]
            walk = self._walks[parent] = _Walk(files)
            if len(self._walks) > _DIRS_REMEMBERED:
                self._walks.popitem(last=False)
        self._walks.move_to_end(parent)
        return walk

    def _next_in_walk(self, node: Inode) -> list[int]:
        """The files after this one whose first blocks a reader opening a directory's files in
        order will want next (none when it is not reading them in order)."""
        walk = self._walk(node.parent)
        try:
            index = walk.files.index(node.ino, max(walk.at, 0))
        except ValueError:
            walk.at = -1  # opened out of order (or a hard link's other name): no walk
            return []
        in_order = index == walk.at + 1
        walk.at = index
        if not in_order:
            return []
        self._tree_read_at = time.monotonic()
        if walk.fetched_upto - index > _FILES_AHEAD // 2:
            return []  # enough are coming; the next batch when half of them are read
        stop = min(index + 1 + _FILES_AHEAD, len(walk.files))
        start = max(index + 1, walk.fetched_upto)
        walk.fetched_upto = max(walk.fetched_upto, stop)
        return walk.files[start:stop]

    def _fetch_first_blocks(self, inos: list[int]) -> None:
        """Fetch the first blocks of the files a reader will read next, all in one batch, and
        keep their block lists for their reads."""
        found = self.flist.blocks_of(inos)
        self._blocks.update(found)
        while len(self._blocks) > _FILES_REMEMBERED:
            self._blocks.popitem(last=False)
        self.reader.prefetch([blocks[0] for blocks in found.values()])

    async def release(self, fh: int) -> None:
        self.requests["release"] += 1
        self._handles.pop(fh, None)

    async def getxattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> bytes:
        self.requests["getxattr"] += 1
        if not self.stats:
            raise pyfuse3.FUSEError(errno.ENOSYS)
        if inode == pyfuse3.ROOT_INODE and name == STATS_XATTR:
            return json.dumps(self.requests, sort_keys=True).encode()
        raise pyfuse3.FUSEError(errno.ENODATA)

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        data = pyfuse3.StatvfsData()
        data.f_bsize = data.f_frsize = 4096
        data.f_namemax = 255
        return data
