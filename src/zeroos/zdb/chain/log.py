"""The persistent Merkle log of one namespace: leaves, their hashes, and signed heads.

Files, in the namespace's index folder (all append-only, written through mmap like the data):

- ``zdb-chain-leaves``: ``crc32c u32 | len u16 | leaf`` records (layout in leaf.py);
- ``zdb-chain-hashes``: the leaf hashes, 32 bytes each, leaf ``i`` at ``32 * i``;
- ``zdb-chain-heads``: every signed head given out: ``size u64 | timestamp_us u64 | root 32
  | signature 64 | public key 32``;
- ``zdb-chain-blocks`` (local files only): a cache of the roots of the aligned 256-leaf
  blocks, ``root 32 | crc32c u32`` each, the CRC taken over the root and the block's last leaf
  hash, so a stale or torn record is recomputed from the hashes on open instead of trusted.
  It saves hashing every leaf again on each start.

Writes of keys only queue ``(flags, key, value hash, timestamp)``; :meth:`ChainLog.commit`
turns a whole batch into leaves and updates the tree once (the server commits before it sends
a batch's replies). Hashes of aligned perfect subtrees of 256 leaves and up are kept in memory,
so a root or a proof costs O(log n) cached nodes plus at most a few hundred leaf hashes.
Only every 64th leaf's offset is kept in memory (8 bytes per leaf would be most of a key's
cost); reaching a leaf walks at most 63 length prefixes from the nearest mark.

A torn tail of the leaves file is cut; the hashes file is repaired from the leaves. The data
side (what the store holds) is reconciled by the store, see :meth:`ChainLog.data_leaves_tail`.
"""

from __future__ import annotations

import os
import struct
import time
from array import array
from collections.abc import Callable, Iterator

from crc32c import crc32c

from ..errors import StorageError
from . import merkle
from .layout import (
    BLOCKS_FILE,
    CHAIN_FILES,
    HASHES_FILE,
    HEAD_RECORD,
    HEADS_FILE,
    LEAVES_FILE,
    ChainFile,
    ChainFiles,
    leaf_key,
    local_files,
)
from .leaf import (
    DATA_OPS,
    EMPTY_HASH,
    OP_COMPACT,
    OP_DEL,
    OP_FLUSH,
    OP_RELEASE,
    Leaf,
    value_hash,
)
from .native import (
    DELETED,
    HASHED,
    Pending,
    key_leaves_of,
    leaf_records,
    record_end,
    scan_leaves,
)
from .signing import Identity, SignedHead

BLOCK_BITS = 8
BLOCK = 1 << BLOCK_BITS  # leaves under the smallest cached subtree
MARK_BITS = 6
MARK_MASK = (1 << MARK_BITS) - 1  # the offset of one leaf in 64 is kept in memory
BLOCK_RECORD = 36
TAIL_CHECK = 64  # leaf hashes re-checked against their leaves on open
_REC = struct.Struct("<IH")
_u16le = struct.Struct("<H").pack


class ChainLog:
    """The Merkle log of one namespace."""

    def __init__(
        self,
        folder: str,
        namespace: str,
        identity: Identity,
        files: ChainFiles | None = None,
        *,
        track_latest: bool = True,
    ) -> None:
        """Open the log in ``folder`` (local files), or through ``files`` when given.

        With ``track_latest`` false, :attr:`latest` stays empty: the store keeps each key's
        leaf index itself (the embedded store packs it into the key's location), which saves
        a second key -> int map in memory; it learns the indices from :meth:`add` and, on
        open, from :meth:`records` (:func:`.native.key_leaves_of`).
        """
        self.folder = folder
        self.namespace = namespace
        self.identity = identity
        ns = namespace.encode()
        self._ns = bytes((len(ns),)) + ns
        self.pending: list[Pending] = []
        self.repaired = 0  # leaves or hashes repaired on open
        self._marks = array("Q")  # offset of leaf 64 * i
        self._size = 0
        self._blocks: ChainFile | None = None
        self.latest: dict[bytes, int] = {}  # key -> index of its newest SET/DEL leaf
        self._track = track_latest
        # called before an event is made durable: the store syncs the data the earlier
        # leaves stand for, so a power cut can't keep an event and lose what came before it
        self.before_event: Callable[[], None] | None = None
        self._levels: list[bytearray] = []
        self._head: SignedHead | None = None
        self._synced: dict[str, int] = {}
        # the last FLUSH/RELEASE/COMPACT: data entries the store holds from before it
        self.boundary = -1
        self.boundary_base = 0
        self.data_since_boundary = 0
        try:
            if files is None:
                os.makedirs(folder, exist_ok=True)
                files = local_files(folder)
                self._blocks = files(BLOCKS_FILE)
            self._leaves = files(LEAVES_FILE)
            self._hashes = files(HASHES_FILE)
            self._heads = files(HEADS_FILE)
            self._load()
        except OSError as exc:
            raise StorageError(f"cannot open the chain of namespace '{namespace}': {exc}") from exc

    # -- opening ----------------------------------------------------------------------------
    def _load(self) -> None:
        buf = self._leaves.read(0, self._leaves.size)
        # one pass over the buffer (native.py): marks, and the few leaves that are not SET/DEL
        start = _REC.size
        n, valid, marks, events = scan_leaves(buf, MARK_MASK)
        self._marks.extend(marks)
        last_event = -1
        for i, off in events:
            self.data_since_boundary += i - 1 - last_event
            last_event = i
            self._account(i, buf[off + start : record_end(buf, off)])
        self.data_since_boundary += n - 1 - last_event
        self._size = n
        if self._track:  # only the Tarantool engine keeps key -> leaf in the log
            latest = self.latest
            for i, op, key in key_leaves_of(buf, n):
                if op in DATA_OPS:
                    latest[key] = i
                else:  # FLUSH or RELEASE, as _account
                    latest.clear()
        del buf
        if valid != self._leaves.size:
            self._leaves.truncate(valid)
            self.repaired += 1
        have = self._hashes.size // 32
        if have > n or self._hashes.size % 32:
            have = min(have, n)
            self._hashes.truncate(have * 32)
        for i in range(max(0, have - TAIL_CHECK), have):
            if self._hashes.read(i * 32, 32) != merkle.leaf_hash(self.leaf(i)):
                self._hashes.truncate(i * 32)
                self.repaired += 1
                have = i
                break
        if have < n:
            self._hashes.append(b"".join(merkle.leaf_hash(raw) for _, raw in self._walk(have)))
            self.repaired += n - have
        self._rebuild_levels()
        # after a crash the space reserved ahead reads as zeros: no head is all zeros
        heads = self._heads.size // HEAD_RECORD.size * HEAD_RECORD.size
        zero = bytes(HEAD_RECORD.size)
        while heads and self._heads.read(heads - HEAD_RECORD.size, HEAD_RECORD.size) == zero:
            heads -= HEAD_RECORD.size
        if heads != self._heads.size:
            self._heads.truncate(heads)
        last = self.last_persisted_head()
        if (
            last is not None
            and last.size == self.size
            and last.public_key == self.identity.public_key
        ) and self.root(last.size) == last.root:
            self._head = last

    def _account(self, index: int, raw: bytes) -> None:
        op, key = leaf_key(raw)
        if op in DATA_OPS:
            if self._track:
                self.latest[key] = index
            self.data_since_boundary += 1
        elif op in (OP_FLUSH, OP_RELEASE, OP_COMPACT):
            self.boundary = index
            self.data_since_boundary = 0
            if op == OP_COMPACT:
                self.boundary_base = int(Leaf.decode(raw).extra or b"0")
            else:
                self.boundary_base = 0
                self.latest.clear()

    def _rebuild_levels(self) -> None:
        self._levels = []
        blocks = self._blocks
        cached = 0
        if blocks is not None:
            # the cached block roots that still match the hashes file; the rest is recomputed
            want = self.size // BLOCK
            have = min(blocks.size // BLOCK_RECORD, want)
            raw = blocks.read(0, have * BLOCK_RECORD)
            for b in range(have):
                rec = raw[b * BLOCK_RECORD : (b + 1) * BLOCK_RECORD]
                last = self._hashes.read(((b + 1) * BLOCK - 1) * 32, 32)
                if crc32c(last, crc32c(rec[:32])) != int.from_bytes(rec[32:], "little"):
                    break
                self._push_node(rec[:32])
                cached += 1
            if blocks.size != cached * BLOCK_RECORD:
                blocks.truncate(cached * BLOCK_RECORD)
        for b in range(cached, self.size // BLOCK):
            self._push_block(b)

    def _push_block(self, b: int) -> None:
        buf = self._hashes.read(b * BLOCK * 32, BLOCK * 32)
        node = merkle.packed_root(buf)
        if self._blocks is not None:
            check = crc32c(buf[-32:], crc32c(node))
            self._blocks.append(node + check.to_bytes(4, "little"))
        self._push_node(node)

    def _push_node(self, node: bytes) -> None:
        levels = self._levels
        lvl = 0
        while True:
            if lvl == len(levels):
                levels.append(bytearray())
            levels[lvl] += node
            count = len(levels[lvl]) // 32
            if count % 2:
                break
            node = merkle.node_hash(bytes(levels[lvl][-64:-32]), bytes(levels[lvl][-32:]))
            lvl += 1

    # -- reading ----------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self._size

    def _offset(self, index: int) -> int:
        if not 0 <= index < self._size:
            raise IndexError(f"leaf {index} is not in a log of {self._size}")
        off = self._marks[index >> MARK_BITS]
        read = self._leaves.read
        for _ in range(index & MARK_MASK):
            off += _REC.size + int.from_bytes(read(off + 4, 2), "little")
        return off

    def leaf(self, index: int) -> bytes:
        off = self._offset(index)
        length = int.from_bytes(self._leaves.read(off + 4, 2), "little")
        return self._leaves.read(off + _REC.size, length)

    def leaf_hash(self, index: int) -> bytes:
        return self._hashes.read(index * 32, 32)

    def _walk(self, start: int) -> Iterator[tuple[int, bytes]]:
        if start >= self._size:
            return
        off = self._offset(start)
        read = self._leaves.read
        for i in range(start, self._size):
            length = int.from_bytes(read(off + 4, 2), "little")
            yield i, read(off + _REC.size, length)
            off += _REC.size + length

    def leaves(self, start: int = 0) -> Iterator[tuple[int, bytes]]:
        self.commit()
        return self._walk(start)

    def records(self) -> bytes:
        """The whole leaves file, pending leaves committed: what a store scans on open."""
        self.commit()
        return self._leaves.read(0, self._leaves.size)

    def subtree(self, a: int, b: int) -> bytes:
        n = b - a
        if n == 1:
            return self._hashes.read(a * 32, 32)
        if n & (n - 1) == 0 and a % n == 0:
            if n >= BLOCK:
                lvl = n.bit_length() - 1 - BLOCK_BITS
                i = a // n * 32
                return bytes(self._levels[lvl][i : i + 32])
            buf = self._hashes.read(a * 32, n * 32)
            return merkle.packed_root(buf)
        k = merkle.split_point(n)
        return merkle.node_hash(self.subtree(a, a + k), self.subtree(a + k, b))

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        return merkle.EMPTY_ROOT if size == 0 else self.subtree(0, size)

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        return merkle.inclusion_path(index, self.size if size is None else size, self.subtree)

    def consistency(self, old: int, new: int | None = None) -> list[bytes]:
        return merkle.consistency_path(old, self.size if new is None else new, self.subtree)

    def data_leaves_tail(self, count: int) -> list[tuple[int, Leaf]]:
        """The newest ``count`` SET/DEL leaves after the last boundary, oldest first."""
        out: list[tuple[int, Leaf]] = []
        i = self.size - 1
        while i > self.boundary and len(out) < count:
            raw = self.leaf(i)
            if raw[1] in DATA_OPS:
                out.append((i, Leaf.decode(raw)))
            i -= 1
        out.reverse()
        return out

    # -- writing ----------------------------------------------------------------------------
    def add(self, deleted: bool, key: bytes, value: bytes, timestamp_us: int) -> int:
        """Queue the leaf of one SET or DEL (committed with the batch); return its index."""
        pending = self.pending
        # the value itself: commit hashes the batch in one call (native.py)
        pending.append((DELETED if deleted else 0, key, value, timestamp_us))
        return self._size + len(pending) - 1

    def commit(self) -> None:
        pending = self.pending
        if not pending:
            return
        self.pending = []
        n0 = self._size
        base = self._leaves.size
        records, hashes, marks = leaf_records(pending, n0, self._ns, MARK_MASK)
        if marks:
            self._marks.extend([base + m for m in marks])
        if self._track:
            latest = self.latest
            for n, item in enumerate(pending, n0):
                latest[item[1]] = n
        n = n0 + len(pending)
        self.data_since_boundary += n - n0
        self._append(n0, n, records, hashes)

    def _append(self, n0: int, n: int, leaves: bytes, hashes: bytes) -> None:
        self._leaves.append(leaves)
        self._hashes.append(hashes)
        self._size = n
        for b in range(n0 // BLOCK, n // BLOCK):
            self._push_block(b)

    def event(self, op: int, key: bytes, value: bytes = b"", extra: bytes | None = None) -> Leaf:
        """Append a namespace event (creation, settings, reservation, flush), durably."""
        self.commit()
        if self.before_event is not None:
            self.before_event()
        leaf = Leaf(
            op,
            self.size,
            time.time_ns() // 1000,
            self.namespace,
            key,
            value_hash(value) if value else EMPTY_HASH,
            value if extra is None else extra,
        )
        raw = leaf.encode()
        body = _u16le(len(raw)) + raw
        n0 = self.size
        if not n0 & MARK_MASK:
            self._marks.append(self._leaves.size)
        self._account(n0, raw)
        self._append(n0, n0 + 1, crc32c(body).to_bytes(4, "little") + body, merkle.leaf_hash(raw))
        self.sync()
        return leaf

    def append_data_leaf(self, leaf: Leaf) -> None:
        """Append a SET/DEL leaf rebuilt from the data (recovery)."""
        flags = HASHED | (DELETED if leaf.op == OP_DEL else 0)
        self.pending.append((flags, leaf.key, leaf.value_hash, leaf.timestamp_us))
        self.commit()

    def truncate(self, size: int) -> None:
        """Cut the log back to ``size`` leaves (recovery of leaves the data does not back)."""
        self.commit()
        if size >= self.size:
            return
        self._leaves.truncate(self._offset(size))
        self._hashes.truncate(size * 32)
        del self._marks[(size + MARK_MASK) >> MARK_BITS :]
        self._size = size
        self.latest.clear()
        self.boundary, self.boundary_base, self.data_since_boundary = -1, 0, 0
        for i, raw in self._walk(0):
            self._account(i, raw)
        if self._blocks is not None:
            self._blocks.truncate(min(self._blocks.size, size // BLOCK * BLOCK_RECORD))
        self._rebuild_levels()
        self._head = None
        self.repaired += 1

    # -- heads ------------------------------------------------------------------------------
    def head(self) -> SignedHead:
        """A signed head of the whole log (the last one again if nothing changed)."""
        self.commit()
        head = self._head
        if head is None or head.size != self.size:
            head = self.identity.sign_head(
                self.namespace, self.size, self.root(), time.time_ns() // 1000
            )
            self._heads.append(
                HEAD_RECORD.pack(
                    head.size, head.timestamp_us, head.root, head.signature, head.public_key
                )
            )
            self._head = head
        return head

    def persisted_heads(self) -> list[SignedHead]:
        out = []
        for pos in range(0, self._heads.size - HEAD_RECORD.size + 1, HEAD_RECORD.size):
            size, ts, root, sig, pub = HEAD_RECORD.unpack(self._heads.read(pos, HEAD_RECORD.size))
            out.append(SignedHead(self.namespace, size, root, ts, sig, pub))
        return out

    def last_persisted_head(self) -> SignedHead | None:
        if self._heads.size < HEAD_RECORD.size:
            return None
        pos = self._heads.size - HEAD_RECORD.size
        size, ts, root, sig, pub = HEAD_RECORD.unpack(self._heads.read(pos, HEAD_RECORD.size))
        return SignedHead(self.namespace, size, root, ts, sig, pub)

    # -- lifetime ---------------------------------------------------------------------------
    def copy_to(self, folder: str) -> None:
        """Write the log's files (their logical content) into another folder."""
        self.commit()
        for fname, f in zip(CHAIN_FILES, (self._leaves, self._hashes, self._heads), strict=True):
            with open(os.path.join(folder, fname), "wb") as fh:
                fh.write(f.read(0, f.size))
                fh.flush()
                os.fsync(fh.fileno())

    def sync(self) -> None:
        """Make the log durable (only the files that grew since the last sync)."""
        self.commit()
        for f in (self._leaves, self._hashes, self._heads):  # the blocks cache needs no sync
            if self._synced.get(f.path) != f.size:
                f.sync()
                self._synced[f.path] = f.size

    def _cache_files(self) -> tuple[ChainFile, ...]:
        return () if self._blocks is None else (self._blocks,)

    def export(self) -> list[bytes]:
        """The chain's files in :data:`CHAIN_FILES` order, committed first: a byte-for-byte
        copy that :meth:`Engine.restore_chain` installs elsewhere (``zos zdb migrate``)."""
        self.commit()
        return [f.read(0, f.size) for f in (self._leaves, self._hashes, self._heads)]

    def close(self) -> None:
        self.commit()
        for f in (self._leaves, self._hashes, self._heads, *self._cache_files()):
            f.close()


ChainFactory = Callable[[str, str], ChainLog]

__all__ = ["ChainFactory", "ChainLog"]  # the files' layout: layout.py
