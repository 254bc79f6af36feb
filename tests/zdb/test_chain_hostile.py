"""A hostile server: forged CHAIN replies (bad proofs, bad values, bad signatures) are rejected.

The fake is a socket server that answers everything +OK except CHAIN, whose replies it takes
from a real zero-db and then forges.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import hiredis
import pytest
import redis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zeroos.zdb import Client, ProofMismatch, SignatureMismatch, ValueMismatch
from zeroos.zdb.chain.signing import Identity


def _encode(item: Any) -> bytes:
    if item is None:
        return b"$-1\r\n"
    if isinstance(item, int):
        return b":%d\r\n" % item
    if isinstance(item, bytes):
        return b"$%d\r\n%b\r\n" % (len(item), item)
    return b"*%d\r\n" % len(item) + b"".join(_encode(i) for i in item)


Forge = Callable[[list[bytes], Any], Any]


@pytest.fixture
def hostile(zdb) -> Iterator[Callable[[Forge], int]]:
    real = zdb.client(protocol=2)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    forge: list[Forge] = [lambda args, reply: reply]
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        reader = hiredis.Reader()
        with conn:
            while not stop.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                reader.feed(data)
                while (cmd := reader.gets()) is not False:
                    if cmd[0].upper() == b"CHAIN":
                        reply = forge[0](cmd, real.execute_command(*cmd))
                        conn.sendall(_encode(reply))
                    else:
                        conn.sendall(b"+OK\r\n")

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()

    def install(f: Forge) -> int:
        forge[0] = f
        return listener.getsockname()[1]

    with Client(port=zdb.port) as client:
        client.set("key", b"real value")
        client.set("other", b"other value")
    yield install
    stop.set()
    listener.close()
    real.close()


def _resign(head: list[Any], key: Ed25519PrivateKey) -> list[Any]:
    identity = Identity(key)
    signed = identity.sign_head(head[0].decode(), head[1], head[2], head[3])
    return [head[0], head[1], head[2], head[3], signed.signature, signed.public_key]


def test_honest_replies_pass(hostile):
    port = hostile(lambda args, reply: reply)
    with Client(port=port) as client:
        assert client.verified_get("key") == b"real value"


def test_forged_value_is_rejected(hostile):
    port = hostile(lambda args, r: [r[0], r[1], b"forged value", r[3], r[4]])
    with Client(port=port) as client, pytest.raises(ValueMismatch):
        client.verified_get("key")


def test_forged_proof_is_rejected(hostile):
    port = hostile(lambda args, r: [r[0], r[1], r[2], [bytes(32), *r[3][1:]], r[4]])
    with Client(port=port) as client, pytest.raises(ProofMismatch):
        client.verified_get("key")


def test_leaf_of_another_key_is_rejected(hostile):
    port = hostile(lambda args, r: r)
    with redis.Redis(port=port, protocol=2, socket_timeout=30) as plain:
        other = plain.execute_command("CHAIN", "PROOF", "other")
    port = hostile(lambda args, r: other)
    with Client(port=port) as client, pytest.raises(ValueMismatch):
        client.verified_get("key")


def test_bad_signature_is_rejected(hostile):
    def flip(args: list[bytes], r: Any) -> Any:
        head = list(r[4])
        head[4] = bytes([head[4][0] ^ 1]) + head[4][1:]
        return [*r[:4], head]

    port = hostile(flip)
    with Client(port=port) as client, pytest.raises(SignatureMismatch):
        client.verified_get("key")


def test_head_signed_by_another_key_is_rejected_once_pinned(hostile, tmp_path):
    state = str(tmp_path / "state.json")
    port = hostile(lambda args, r: r)
    with Client(port=port, chain_state=state) as client:
        assert client.verified_get("key") == b"real value"  # pins the real key
    attacker = Ed25519PrivateKey.generate()
    port = hostile(lambda args, r: [*r[:4], _resign(list(r[4]), attacker)])
    with Client(port=port, chain_state=state) as client, pytest.raises(SignatureMismatch):
        client.verified_get("key")
    # an explicitly given key is pinned the same way
    stranger = Identity.generate().public_key
    with Client(port=port, server_key=stranger) as client, pytest.raises(SignatureMismatch):
        client.verified_get("key")


def test_forked_history_is_rejected_by_consistency(hostile, zdb, tmp_path):
    state = str(tmp_path / "state.json")
    port = hostile(lambda args, r: r)
    with Client(port=port, chain_state=state) as client:
        client.verified_get("key")
    with Client(port=zdb.port) as real:
        real.set("grow", "x")  # the tree grows: the next read needs a consistency proof

    def forge(args: list[bytes], r: Any) -> Any:
        if args[1].upper() == b"CONSISTENCY":
            return [r[0], r[1], [bytes(32)] * max(1, len(r[2]))]
        return r

    port = hostile(forge)
    with Client(port=port, chain_state=state) as client, pytest.raises(ProofMismatch):
        client.verified_get("key")
