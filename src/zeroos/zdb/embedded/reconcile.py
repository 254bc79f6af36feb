"""An embedded namespace's chain made to match its data on open, and each key's leaf learnt."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..chain.leaf import OP_DEL, OP_SET, Leaf, value_hash
from ..engine import Faults
from ..errors import StorageError
from .codec import apply_key_leaves
from .format import DATA_HEADER_SIZE, FLAG_DELETED, INDEX_TRAILER, LEAF_SHIFT
from .segments import Record, SegmentFiles

if TYPE_CHECKING:
    from ..chain.log import ChainLog


@dataclass(frozen=True, slots=True)
class _TailFiles:
    """What _Tail reads: the namespace's index files, by file id."""

    name: str
    index_len: Callable[[int], int]
    index_read: Callable[[int, int, int], bytes]
    record_at: Callable[[int, int], Record]


class _Tail:
    """The index records of a namespace by position, read backwards from the end on demand.

    Reconciling the chain looks at the newest records only: walking back over them with their
    trailing lengths costs what is read, where parsing whole index files cost seconds and left
    a million tuples' worth of freed memory behind at 1 M keys.
    """

    def __init__(
        self,
        files: _TailFiles,
        counts: list[tuple[int, int]],
    ) -> None:
        self._files = files
        self._counts = counts
        self._total = sum(c for _, c in counts)
        self._back: dict[int, list[int]] = {}  # file id -> record positions, newest first

    def __len__(self) -> int:
        return self._total

    def _positions(self, fid: int, need: int) -> list[int]:
        positions = self._back.setdefault(fid, [])
        index_len, index_read = self._files.index_len, self._files.index_read
        pos = positions[-1] if positions else index_len(fid)
        while len(positions) < need and pos > 0:
            (reclen,) = INDEX_TRAILER.unpack(index_read(fid, pos - 2, 2))
            pos -= reclen
            positions.append(pos)
        return positions

    def __getitem__(self, j: int) -> tuple[int, Record]:
        for fid, count in self._counts:
            if j < count:
                back = count - j  # 1 is the newest record of the file
                positions = self._positions(fid, back)
                if len(positions) < back:
                    raise StorageError(f"index of namespace '{self._files.name}' is damaged")
                return fid, self._files.record_at(fid, positions[back - 1])
            j -= count
        raise IndexError(j)

    def since(self, j: int) -> Iterator[tuple[int, Record]]:
        for i in range(j, self._total):
            yield self[i]


class ChainRepair(SegmentFiles):
    """The chain's side of opening :class:`~.store.EmbeddedStore` (a layer over its files)."""

    faults: Faults
    _chain: ChainLog | None
    _keys: dict[bytes, int]  # key -> location (format.py: LEAF_SHIFT)
    _dels: dict[bytes, int]  # deleted key -> its DEL leaf
    _loaded: list[tuple[int, int]]  # (file id, index records) while opening

    def _reconcile_chain(self) -> None:
        """Make the chain's SET/DEL leaves match the data entries (after a crash or --no-chain).

        Only torn tails are repaired: leaves of entries lost with a torn data tail (never
        acknowledged) are cut, entries without a leaf get one rebuilt from the data. The
        newest leaves are checked against their entries; a difference there is not a crash's
        doing and is left for `zos zdb verify` to name (counted in stats_data_faults).
        """
        chain = self._chain
        assert chain is not None
        files = _TailFiles(self.name, self._index_len, self._index_read, self._record_at)
        flat = _Tail(files, self._loaded)
        expected = chain.boundary_base + chain.data_since_boundary
        if len(flat) < expected:
            # leaves past the data: the data tail they stand for was torn
            tail = chain.data_leaves_tail(expected - len(flat))
            if tail and tail[-1][0] == chain.size - 1 and len(tail) == expected - len(flat):
                chain.truncate(tail[0][0])
                self.faults.index_faults += len(tail)
            expected = chain.boundary_base + chain.data_since_boundary
        covered = min(expected, len(flat))
        # check the newest leaves against their entries; rebuild from the first that differs
        check = []
        if expected <= len(flat):
            count = min(64, chain.data_since_boundary, covered - chain.boundary_base)
            check = chain.data_leaves_tail(max(0, count))
        first_entry = covered - len(check)
        for j, (_index, leaf) in enumerate(check):
            fid, rec = flat[first_entry + j]
            if leaf != self._leaf_of(fid, rec, leaf.seq):
                # both sides present but different: not a crash (data is written first), so
                # tampering or rot; never "repaired" here: `zos zdb verify` names it
                self.faults.data_faults += 1
        for fid, rec in flat.since(covered):
            chain.append_data_leaf(self._leaf_of(fid, rec, chain.size))
            self.faults.index_faults += 1
        chain.commit()

    def _load_leaves(self) -> None:
        """Learn each key's current chain leaf (after the chain matches the data)."""
        chain = self._chain
        if chain is None:
            return
        apply_key_leaves(chain.records(), chain.size, self._keys, self._dels, LEAF_SHIFT)

    def chain_leaf(self, key: bytes) -> int | None:
        loc = self._keys.get(key)
        if loc is None:
            return self._dels.get(key)
        leaf = loc >> LEAF_SHIFT
        return leaf - 1 if leaf else None

    def _leaf_of(self, fid: int, rec: Record, seq: int) -> Leaf:
        flags, key, offset, entrylen, rts = rec[0], rec[1], rec[2], rec[3], rec[4]
        raw = self._read(fid, offset, entrylen)
        value = raw[DATA_HEADER_SIZE + len(key) :]
        deleted = bool(flags & FLAG_DELETED)
        return Leaf(
            OP_DEL if deleted else OP_SET,
            seq,
            rts,
            self.name,
            key,
            value_hash(b"" if deleted else value),
        )


__all__ = ["ChainRepair"]
