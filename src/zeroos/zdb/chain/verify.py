"""Check a namespace against its chain, offline (the files) or online (a server).

Both re-read every entry and every leaf, recompute checksums, value hashes, leaf hashes and
the Merkle root, check the signed heads (and anchors, when given), and stop at the first
thing that diverges, naming it (:class:`VerificationError`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crc32c import crc32c

from ..errors import ProofMismatch, SignatureMismatch, ValueMismatch, VerificationError
from .layout import HASHES_FILE, HEAD_RECORD, HEADS_FILE, LEAVES_FILE, read_leaf_records
from .leaf import DATA_OPS, OP_COMPACT, OP_DEL, OP_FLUSH, OP_RELEASE, OP_SET, Leaf, LeafError
from .leaf import value_hash as _vhash
from .merkle import MemoryTree, leaf_hash
from .signing import KEY_FILE, SignatureError, SignedHead

if TYPE_CHECKING:
    from ..client import Client

# the data layout of the embedded engine (embedded/format.py), read here without the engine
_DATA_HEADER_SIZE = 26
_FLAG_DELETED = 0x01


@dataclass(slots=True)
class Report:
    """What a verification checked."""

    namespace: str
    leaves: int = 0
    entries: int = 0
    heads: int = 0
    anchors: int = 0
    live_keys: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DataEntry:
    deleted: bool
    key: bytes
    timestamp_us: int
    value_hash: bytes
    where: str


def server_public_key(indexdir: str) -> bytes:
    """The public key of the server whose index folder this is."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = os.path.join(indexdir, KEY_FILE)
    try:
        with open(path, "rb") as fh:
            seed = fh.read()
    except OSError as exc:
        raise VerificationError(f"no server key at {path}: {exc.strerror}") from None
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def _data_entries(folder: str) -> Iterator[DataEntry]:
    names = sorted(n for n in os.listdir(folder) if n.startswith("zdb-data-"))
    for name in names:
        with open(os.path.join(folder, name), "rb") as fh:
            buf = fh.read()
        pos = 0
        while pos + _DATA_HEADER_SIZE <= len(buf):
            head = buf[pos : pos + _DATA_HEADER_SIZE]
            if head == bytes(_DATA_HEADER_SIZE):
                break  # space reserved ahead: the end of the file
            crc = int.from_bytes(head[:4], "little")
            flags, keylen = head[4], head[5]
            vallen = int.from_bytes(head[6:10], "little")
            ts = int.from_bytes(head[10:18], "little")
            end = pos + _DATA_HEADER_SIZE + keylen + vallen
            entry = buf[pos:end]
            key = entry[_DATA_HEADER_SIZE : _DATA_HEADER_SIZE + keylen]
            where = f"{name} offset {pos} (key {key!r})"
            if end > len(buf) or crc32c(entry[4:]) != crc:
                raise ValueMismatch(f"data entry at {where} fails its checksum")
            deleted = bool(flags & _FLAG_DELETED)
            value = entry[_DATA_HEADER_SIZE + keylen :]
            yield DataEntry(deleted, key, ts, _vhash(b"" if deleted else value), where)
            pos = end


def check_heads(
    tree: MemoryTree,
    heads: Iterable[SignedHead],
    public_key: bytes,
    what: str,
) -> int:
    """Every head signed by ``public_key`` and matching the recomputed tree at its size."""
    count = 0
    for head in heads:
        try:
            head.verify(public_key)
        except SignatureError as exc:
            raise SignatureMismatch(f"{what} at size {head.size}: {exc}") from None
        if head.size > len(tree):
            raise ProofMismatch(
                f"{what} at size {head.size} is past the chain's {len(tree)} leaves: "
                "entries were dropped or history was rewritten"
            )
        if tree.root(head.size) != head.root:
            raise ProofMismatch(
                f"{what} at size {head.size} does not match the chain: history was rewritten"
            )
        count += 1
    return count


def _decode(i: int, raw: bytes, namespace: str) -> Leaf:
    try:
        leaf = Leaf.decode(raw)
    except LeafError as exc:
        raise ValueMismatch(f"leaf {i}: {exc}") from None
    if leaf.seq != i or leaf.namespace != namespace:
        raise ValueMismatch(f"leaf {i}: says it is leaf {leaf.seq} of {leaf.namespace!r}")
    return leaf


def _replay(leaves: list[Leaf]) -> tuple[dict[bytes, Leaf], int, int]:
    """Live keys after every leaf, the last boundary (FLUSH/RELEASE/COMPACT) and its base."""
    state: dict[bytes, Leaf] = {}
    boundary, base = -1, 0
    for leaf in leaves:
        if leaf.op == OP_SET:
            state[leaf.key] = leaf
        elif leaf.op == OP_DEL:
            state.pop(leaf.key, None)
        elif leaf.op in (OP_FLUSH, OP_RELEASE):
            state.clear()
            boundary, base = leaf.seq, 0
        elif leaf.op == OP_COMPACT:
            boundary, base = leaf.seq, int(leaf.extra or b"0")
    return state, boundary, base


def verify_offline(
    datadir: str,
    indexdir: str,
    namespace: str,
    public_key: bytes | None = None,
    anchors: Iterable[SignedHead] = (),
) -> Report:
    """Verify one namespace's files; raise VerificationError at the first divergence."""
    folder = os.path.join(indexdir, namespace)
    if not os.path.isdir(folder):
        raise VerificationError(f"namespace '{namespace}' not found in {indexdir}")
    if not os.path.exists(os.path.join(folder, LEAVES_FILE)):
        raise VerificationError(f"namespace '{namespace}' keeps no chain (served with --no-chain)")
    if not os.path.isdir(os.path.join(datadir, namespace)):
        raise VerificationError(f"data folder of namespace '{namespace}' not found in {datadir}")
    try:
        return _verify_files(datadir, indexdir, namespace, public_key, anchors)
    except OSError as exc:  # a file gone or unreadable while it is read
        raise VerificationError(f"cannot read namespace '{namespace}': {exc}") from exc


def _verify_files(
    datadir: str,
    indexdir: str,
    namespace: str,
    public_key: bytes | None,
    anchors: Iterable[SignedHead],
) -> Report:
    report = Report(namespace)
    key = server_public_key(indexdir)
    if public_key is not None and key != public_key:
        raise SignatureMismatch(f"server key is {key.hex()}, expected {public_key.hex()}")
    folder = os.path.join(indexdir, namespace)
    with open(os.path.join(folder, LEAVES_FILE), "rb") as fh:
        buf = fh.read()
    offsets, valid = read_leaf_records(buf)
    if buf[valid:].strip(b"\x00"):
        raise ValueMismatch(
            f"chain leaves file of {namespace!r} is damaged after leaf {len(offsets)}"
        )
    raws = []
    for off in offsets:
        length = int.from_bytes(buf[off + 4 : off + 6], "little")
        raws.append(buf[off + 6 : off + 6 + length])
    leaves = [_decode(i, raw, namespace) for i, raw in enumerate(raws)]
    with open(os.path.join(folder, HASHES_FILE), "rb") as fh:
        stored = fh.read()
    tree = MemoryTree()
    for i, raw in enumerate(raws):
        h = leaf_hash(raw)
        if stored[i * 32 : i * 32 + 32] != h:
            raise ValueMismatch(f"{leaves[i].describe()}: stored leaf hash differs from the leaf")
        tree.hashes.append(h)
    report.leaves = len(leaves)
    heads = []
    with open(os.path.join(folder, HEADS_FILE), "rb") as fh:
        hbuf = fh.read()
    for pos in range(0, len(hbuf) - HEAD_RECORD.size + 1, HEAD_RECORD.size):
        rec = hbuf[pos : pos + HEAD_RECORD.size]
        if rec == bytes(HEAD_RECORD.size):
            break
        size, ts, root, sig, pub = HEAD_RECORD.unpack(rec)
        heads.append(SignedHead(namespace, size, root, ts, sig, pub))
    report.heads = check_heads(tree, heads, key, "signed head")
    anchored = [a for a in anchors if a.namespace == namespace]
    report.anchors = check_heads(tree, anchored, public_key or key, "anchored head")
    # the data, entry by entry, against the SET/DEL leaves after the last boundary
    _, boundary, base = _replay(leaves)
    at_boundary, _, _ = _replay(leaves[: boundary + 1]) if boundary >= 0 else ({}, -1, 0)
    data_leaves = [leaf for leaf in leaves[boundary + 1 :] if leaf.op in DATA_OPS]
    entries = iter(_data_entries(os.path.join(datadir, namespace)))
    count = 0
    for entry in entries:
        count += 1
        if count <= base:
            if entry.deleted:
                continue
            want = at_boundary.get(entry.key)
            if want is None or want.value_hash != entry.value_hash:
                raise ValueMismatch(f"compacted data entry at {entry.where} is not in the chain")
            continue
        j = count - base - 1
        if j >= len(data_leaves):
            raise ValueMismatch(f"data entry at {entry.where} is not in the chain")
        leaf = data_leaves[j]
        if leaf.key != entry.key or (leaf.op == OP_DEL) != entry.deleted:
            raise ValueMismatch(
                f"{leaf.describe()}: data holds another entry there, {entry.where}"
                " (an entry was dropped or inserted)"
            )
        if leaf.value_hash != entry.value_hash:
            raise ValueMismatch(f"{leaf.describe()}: value at {entry.where} differs from its hash")
        if leaf.timestamp_us != entry.timestamp_us:
            raise ValueMismatch(f"{leaf.describe()}: timestamp at {entry.where} differs")
    if count - base < len(data_leaves):
        missing = data_leaves[max(0, count - base)]
        raise ValueMismatch(f"{missing.describe()}: its data entry is missing (dropped)")
    report.entries = count
    report.live_keys = len(_replay(leaves)[0])
    return report


def verify_online(
    client: Client,
    public_key: bytes | None = None,
    anchors: Iterable[SignedHead] = (),
) -> Report:
    """Verify the client's namespace on a live server through its CHAIN commands."""
    namespace = client.namespace
    report = Report(namespace)
    head = client.chain_head_unchecked()
    if head.namespace != namespace:
        raise SignatureMismatch(f"head is for {head.namespace!r}, expected {namespace!r}")
    tree = MemoryTree()
    leaves: list[Leaf] = []
    while len(leaves) < head.size:
        batch = client.chain_leaves(len(leaves), min(1000, head.size - len(leaves)))
        if not batch:
            raise ValueMismatch("server returned no leaves")
        for raw in batch:
            if len(leaves) >= head.size:
                break
            leaves.append(_decode(len(leaves), raw, namespace))
            tree.hashes.append(leaf_hash(raw))
    report.leaves = len(leaves)
    report.heads = check_heads(tree, [head], public_key or head.public_key, "signed head")
    anchored = [a for a in anchors if a.namespace == namespace]
    report.anchors = check_heads(tree, anchored, public_key or head.public_key, "anchored head")
    state, _, _ = _replay(leaves)
    seen: set[bytes] = set()
    for entry in client.scan_iter():
        seen.add(entry.key)
        if entry.key not in state:
            raise ValueMismatch(f"key {entry.key!r} is served but not in the chain")
    for key, leaf in state.items():
        if key not in seen:
            raise ValueMismatch(f"{leaf.describe()}: the key is missing from the server")
        value = client.get(key)
        if value is None or _vhash(value) != leaf.value_hash:
            raise ValueMismatch(f"{leaf.describe()}: the served value differs from its hash")
    report.live_keys = len(state)
    report.entries = len(seen)
    return report


__all__ = ["Report", "check_heads", "server_public_key", "verify_offline", "verify_online"]
