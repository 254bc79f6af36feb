"""RFC 6962 / RFC 9162 Merkle tree math: hashes, roots, inclusion and consistency proofs.

Pure functions over SHA-256, shared by the server (which produces proofs) and the client (which
verifies them). A tree is seen through a *subtree oracle*: ``subtree(a, b)`` returns the Merkle
tree hash of leaves ``[a, b)``; the log supplies a cached one, :class:`MemoryTree` a plain one.

    leaf hash  = SHA-256(0x00 || leaf)
    node hash  = SHA-256(0x01 || left || right)
    empty root = SHA-256("")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .native import packed_root, sha256

HASH_SIZE = 32
EMPTY_ROOT = sha256(b"")
Subtree = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof does not verify (the message says why)."""


def leaf_hash(leaf: bytes) -> bytes:
    return sha256(b"\x00" + leaf)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a perfect tree (len a power of two) of leaf hashes, without recursion."""
    return packed_root(b"".join(hashes))


def root_of(hashes: Sequence[bytes]) -> bytes:
    """Merkle tree hash of a list of leaf hashes (MTH of RFC 6962)."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0:
        return perfect_root(hashes)
    k = split_point(n)
    return node_hash(perfect_root(hashes[:k]), root_of(hashes[k:]))


def inclusion_path(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 2.1.1: sibling hashes from the leaf up to the root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    a, b, m = 0, size, index
    # walk down, collecting siblings top-down, then reverse (leaf first)
    while b - a > 1:
        k = split_point(b - a)
        if m < k:
            path.append(subtree(a + k, b))
            b = a + k
        else:
            path.append(subtree(a, a + k))
            a, m = a + k, m - k
    path.reverse()
    return path


def consistency_path(old: int, new: int, subtree: Subtree) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 2.1.2 (empty when old is 0 or equal to new)."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from {old} to {new}")
    if old == 0 or old == new:
        return []
    out: list[bytes] = []
    a, b, m, complete = 0, new, old, True
    while True:
        n = b - a
        if m == n:
            if not complete:
                out.append(subtree(a, b))
            break
        k = split_point(n)
        if m <= k:
            out.append(subtree(a + k, b))
            b = a + k
        else:
            out.append(subtree(a, a + k))
            a, m, complete = a + k, m - k, False
    out.reverse()
    return out


def _to_set_bit(fn: int, sn: int) -> tuple[int, int]:
    """RFC 9162's step of both proofs: right-shift fn and sn equally until fn's lowest bit is
    set or fn is 0."""
    while not fn & 1 and fn != 0:
        fn >>= 1
        sn >>= 1
    return fn, sn


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """The root a leaf hash and its path lead to (RFC 9162 2.1.3.2); ProofError if malformed."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if len(p) != HASH_SIZE:
            raise ProofError("a proof hash is not 32 bytes")
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _to_set_bit(fn, sn)
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless leaf hash ``leaf`` is leaf ``index`` of the tree ``root``."""
    if root_from_inclusion(index, size, leaf, path) != root:
        raise ProofError(f"inclusion proof of leaf {index} does not lead to the root of {size}")


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> None:
    """Raise ProofError unless the tree (new, new_root) extends (old, old_root) (RFC 9162)."""
    if old < 0 or new < old:
        raise ProofError(f"tree shrank from {old} to {new}")
    if old == new:
        if path:
            raise ProofError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same size {old}")
        return
    if old == 0:
        if path:
            raise ProofError("consistency proof from the empty tree must be empty")
        return
    if not path:
        raise ProofError("consistency proof is empty")
    for p in path:
        if len(p) != HASH_SIZE:
            raise ProofError("a proof hash is not 32 bytes")
    proof = list(path)
    if old & (old - 1) == 0:
        proof.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            fn, sn = _to_set_bit(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != old_root:
        raise ProofError(f"consistency proof does not lead to the old root of {old}")
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the new root of {new}")


class MemoryTree:
    """A Merkle tree over leaf hashes kept in a list (tests, small offline checks)."""

    def __init__(self, hashes: Sequence[bytes] = ()) -> None:
        self.hashes = list(hashes)

    def __len__(self) -> int:
        return len(self.hashes)

    def append(self, leaf: bytes) -> int:
        self.hashes.append(leaf_hash(leaf))
        return len(self.hashes) - 1

    def subtree(self, a: int, b: int) -> bytes:
        return root_of(self.hashes[a:b])

    def root(self, size: int | None = None) -> bytes:
        return root_of(self.hashes[: len(self.hashes) if size is None else size])

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_path(index, len(self.hashes) if size is None else size, self.subtree)

    def consistency(self, old: int, new: int | None = None) -> list[bytes]:
        return consistency_path(old, len(self.hashes) if new is None else new, self.subtree)


__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryTree",
    "ProofError",
    "Subtree",
    "consistency_path",
    "inclusion_path",
    "leaf_hash",
    "node_hash",
    "packed_root",
    "perfect_root",
    "root_from_inclusion",
    "root_of",
    "split_point",
    "verify_consistency",
    "verify_inclusion",
]
