"""What a client trusts: the server's pinned key and the last head it verified, per namespace.

Like immudb's verified reads: every proof is checked under a signed head, and every new head
must be consistent with the last one trusted (kept in a small JSON state file, so a server
can't fork its history between two runs of a client unnoticed). The key is pinned on first
use unless given explicitly.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from ..errors import ProofMismatch, SignatureMismatch, ValueMismatch, VerificationError
from .leaf import OP_DEL, OP_SET, Leaf, LeafError, value_hash
from .merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion
from .signing import SignatureError, SignedHead


def parse_head(reply: Any) -> SignedHead:
    """A signed head from the ``*6`` array of CHAIN HEAD."""
    try:
        ns, size, root, ts, sig, pub = reply
        head = SignedHead(
            bytes(ns).decode(), int(size), bytes(root), int(ts), bytes(sig), bytes(pub)
        )
    except (TypeError, ValueError, UnicodeDecodeError):
        raise VerificationError("malformed signed head from the server") from None
    if len(head.root) != 32:
        raise VerificationError("malformed signed head: root is not 32 bytes")
    return head


def _hashes(reply: Any) -> list[bytes]:
    if not isinstance(reply, list) or not all(isinstance(h, bytes) for h in reply):
        raise ProofMismatch("malformed proof from the server")
    return list(reply)


class Trust:
    """Pinned server key and trusted heads; thread-safe; persisted when given a path."""

    def __init__(self, server: str, path: str | None = None, public_key: bytes | None = None):
        self.server = server
        self.path = path
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"servers": {}}
        if path is not None and os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as fh:
                    self._state = json.load(fh)
            except (OSError, ValueError) as exc:
                raise VerificationError(f"cannot read chain state {path}: {exc}") from exc
        entry = self._entry()
        if public_key is not None:
            pinned = entry.get("public_key")
            if pinned and pinned != public_key.hex():
                raise SignatureMismatch(
                    f"state file pins key {pinned} for {server}, not {public_key.hex()}"
                )
            entry["public_key"] = public_key.hex()

    def _entry(self) -> dict[str, Any]:
        servers = self._state.setdefault("servers", {})
        entry: dict[str, Any] = servers.setdefault(self.server, {})
        entry.setdefault("heads", {})
        return entry

    @property
    def public_key(self) -> bytes | None:
        pinned = self._entry().get("public_key")
        return bytes.fromhex(pinned) if pinned else None

    def trusted(self, namespace: str) -> SignedHead | None:
        data = self._entry()["heads"].get(namespace)
        return SignedHead.from_dict(data) if data else None

    def check_head(self, head: SignedHead, namespace: str) -> None:
        """Signature valid, by the pinned key (pinned now on first use), for this namespace."""
        if head.namespace != namespace:
            raise SignatureMismatch(
                f"head is for namespace {head.namespace!r}, expected {namespace!r}"
            )
        pinned = self.public_key
        try:
            head.verify(pinned)
        except SignatureError as exc:
            raise SignatureMismatch(f"signed head of {namespace!r}: {exc}") from None

    def check_proof(
        self, namespace: str, key: bytes, reply: Any
    ) -> tuple[bytes | None, SignedHead]:
        """Check a CHAIN PROOF reply; return the proven value (None: deleted) and its head."""
        try:
            index, raw, value, path, head_reply = reply
            index = int(index)
            raw = bytes(raw)
        except (TypeError, ValueError):
            raise ProofMismatch("malformed CHAIN PROOF reply") from None
        head = parse_head(head_reply)
        self.check_head(head, namespace)
        try:
            leaf = Leaf.decode(raw)
        except LeafError as exc:
            raise ValueMismatch(f"leaf {index}: {exc}") from None
        if leaf.key != key or leaf.namespace != namespace or leaf.seq != index:
            raise ValueMismatch(f"leaf {index} is not about key {key!r} in {namespace!r}")
        try:
            verify_inclusion(index, head.size, leaf_hash(raw), _hashes(path), head.root)
        except ProofError as exc:
            raise ProofMismatch(f"key {key!r}: {exc}") from None
        if leaf.op == OP_DEL:
            if value is not None:
                raise ValueMismatch(f"key {key!r} is deleted in the chain but a value came")
            return None, head
        if leaf.op != OP_SET or not isinstance(value, bytes):
            raise ValueMismatch(f"key {key!r}: {leaf.describe()} does not hold a value")
        if value_hash(value) != leaf.value_hash:
            raise ValueMismatch(
                f"value of key {key!r} does not match the hash in {leaf.describe()}"
            )
        return value, head

    def consistency_needed(self, head: SignedHead) -> SignedHead | None:
        """The trusted head a consistency proof must link ``head`` to, if any."""
        old = self.trusted(head.namespace)
        if old is None:
            return None
        if head.size < old.size:
            raise ProofMismatch(
                f"namespace {head.namespace!r} shrank from {old.size} to {head.size} leaves"
            )
        if head.size == old.size:
            if head.root != old.root:
                raise ProofMismatch(
                    f"namespace {head.namespace!r} has two roots for size {old.size}: "
                    "history was rewritten"
                )
            return None
        return old

    def check_consistency(self, old: SignedHead, head: SignedHead, reply: Any) -> None:
        try:
            first, second, path = reply
            if int(first) != old.size or int(second) != head.size:
                raise ProofMismatch("consistency proof is for other sizes")
            verify_consistency(old.size, head.size, old.root, head.root, _hashes(path))
        except ProofError as exc:
            raise ProofMismatch(
                f"namespace {head.namespace!r}: head {head.size} is not consistent with the "
                f"trusted head {old.size}: {exc}"
            ) from None
        except (TypeError, ValueError):
            raise ProofMismatch("malformed CHAIN CONSISTENCY reply") from None

    def accept(self, head: SignedHead) -> None:
        """Trust a verified head (and pin its key); saved to the state file."""
        with self._lock:
            entry = self._entry()
            entry.setdefault("public_key", head.public_key.hex())
            old = entry["heads"].get(head.namespace)
            if old is None or int(old["size"]) <= head.size:
                entry["heads"][head.namespace] = head.to_dict()
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self._state, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


__all__ = ["Trust", "parse_head"]
