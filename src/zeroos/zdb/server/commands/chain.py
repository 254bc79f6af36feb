"""The Merkle chain's reads: CHAIN HEAD, PROOF, CONSISTENCY, LEAF."""

from __future__ import annotations

from ...chain.leaf import OP_SET
from ...chain.signing import SignedHead
from ...errors import KEY_NOT_FOUND, ReplyError
from ...protocol import NIL, array, bulk, integer
from .args import NO_CHAIN, int_arg, key_arg, readable
from .session import Session

CHAIN_LEAF_BATCH = 1000


def _head(head: SignedHead) -> bytes:
    return array(
        [
            bulk(head.namespace.encode()),
            integer(head.size),
            bulk(head.root),
            integer(head.timestamp_us),
            bulk(head.signature),
            bulk(head.public_key),
        ]
    )


def command_chain(session: Session, args: list[bytes]) -> bytes:
    """CHAIN HEAD | PROOF key | CONSISTENCY old [new] | LEAF index [count]."""
    if len(args) < 2:
        raise ReplyError("Unexpected arguments")
    store = readable(session)
    log = store.chain
    if log is None:
        raise ReplyError(NO_CHAIN)
    sub = args[1].upper()
    if sub == b"HEAD":
        if len(args) != 2:
            raise ReplyError("Unexpected arguments")
        return _head(log.head())
    if sub == b"PROOF":
        key = key_arg(args[1:])
        index = store.chain_leaf(key)
        if index is None:
            raise ReplyError(KEY_NOT_FOUND)
        head = log.head()
        leaf = log.leaf(index)
        value = store.get(key) if leaf[1] == OP_SET else None
        path = log.inclusion(index, head.size)
        return array(
            [
                integer(index),
                bulk(leaf),
                NIL if value is None else bulk(value),
                array([bulk(h) for h in path]),
                _head(head),
            ]
        )
    if sub == b"CONSISTENCY":
        if len(args) not in (3, 4):
            raise ReplyError("Unexpected arguments")
        log.commit()
        old = int_arg(args[2], "size")
        new = int_arg(args[3], "size") if len(args) == 4 else log.size
        if not old <= new <= log.size:
            raise ReplyError("Invalid size (expected: old <= new <= tree size)")
        path = log.consistency(old, new)
        return array([integer(old), integer(new), array([bulk(h) for h in path])])
    if sub == b"LEAF":
        if len(args) not in (3, 4):
            raise ReplyError("Unexpected arguments")
        log.commit()
        index = int_arg(args[2], "index")
        if index >= log.size:
            raise ReplyError("Leaf index out of range")
        if len(args) == 3:
            return bulk(log.leaf(index))
        count = min(int_arg(args[3], "count"), CHAIN_LEAF_BATCH, log.size - index)
        return array([bulk(log.leaf(i)) for i in range(index, index + count)])
    raise ReplyError("Invalid subcommand (expected: HEAD, PROOF, CONSISTENCY, LEAF)")
