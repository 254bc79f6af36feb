"""Anchoring: copy a server's signed heads into a namespace on another zero-db.

An anchor is the JSON of a signed head under the key ``<namespace>/<size, 20 digits>``. A
server that later rewrites its history can't make its new tree match the anchored roots,
nor sign them again with its old key without showing the same roots: ``verify --anchors``
catches both.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ...common.address import AddressError, parse_address
from ..errors import VerificationError
from .signing import SignatureError, SignedHead

if TYPE_CHECKING:
    from ..client import Client


def parse_target(text: str) -> tuple[str, int, str]:
    """``HOST:PORT/namespace`` -> (host, port, namespace)."""
    where, _, namespace = text.partition("/")
    try:
        if not namespace:
            raise AddressError(where)
        address = parse_address(where)
    except AddressError:
        raise VerificationError(f"{text!r} is not HOST:PORT/namespace") from None
    return address.host, address.port, namespace


def anchor(source: Client, target: Client) -> SignedHead:
    """Store the source namespace's current signed head in the target's namespace."""
    head = source.chain_head_unchecked()
    try:
        head.verify()
    except SignatureError as exc:
        raise VerificationError(f"the source's head does not verify: {exc}") from None
    key = f"{head.namespace}/{head.size:020d}".encode()
    target.set(key, json.dumps(head.to_dict(), sort_keys=True))
    return head


def read_anchors(target: Client, namespace: str | None = None) -> list[SignedHead]:
    """Every anchored head kept in the target's namespace (of one source namespace)."""
    out = []
    for entry in target.scan_iter():
        if namespace is not None and not entry.key.startswith(namespace.encode() + b"/"):
            continue
        raw = target.get(entry.key)
        if raw is None:
            continue
        try:
            out.append(SignedHead.from_dict(json.loads(raw)))
        except (ValueError, SignatureError) as exc:
            raise VerificationError(f"anchor {entry.key!r} is not a signed head: {exc}") from None
    return out


__all__ = ["anchor", "parse_target", "read_anchors"]
