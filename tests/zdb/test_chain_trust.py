"""The client's chain state refuses a server that forked or shrank its history.

A server that rewrote its past and signs with the same key gives proofs that check under its
own heads; only the state the client kept (the last head it trusted, per namespace) tells.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from zeroos.zdb import Client, ProofMismatch
from zeroos.zdb.chain.signing import KEY_FILE, Identity
from zeroos.zdb.chain.trust import Trust

from .conftest import ZdbProcess

ROOT_A, ROOT_B = bytes(range(32)), bytes(range(1, 33))


def _trusting(path: Path, identity: Identity) -> Trust:
    trust = Trust("127.0.0.1:9900", str(path))
    trust.accept(identity.sign_head("default", 10, ROOT_A, 1))
    return trust


def test_state_refuses_a_fork_and_a_shrunk_tree(tmp_path: Path) -> None:
    identity = Identity.generate()
    state = tmp_path / "state.json"
    for trust in (_trusting(state, identity), Trust("127.0.0.1:9900", str(state))):
        # the second is the same state read back from its file: a new run of the client
        fork = identity.sign_head("default", 10, ROOT_B, 2)
        with pytest.raises(ProofMismatch, match="has two roots for size 10"):
            trust.consistency_needed(fork)
        shrunk = identity.sign_head("default", 9, ROOT_B, 2)
        with pytest.raises(ProofMismatch, match="shrank from 10 to 9 leaves"):
            trust.consistency_needed(shrunk)
        # the same head again needs no proof; a bigger one needs one from the trusted head
        assert trust.consistency_needed(identity.sign_head("default", 10, ROOT_A, 3)) is None
        bigger = identity.sign_head("default", 11, ROOT_B, 3)
        assert trust.consistency_needed(bigger) == trust.trusted("default")


def _rewritten(server: ZdbProcess, values: list[bytes]) -> None:
    """Restart the server with its signing key but a new history: one SET per value."""
    server.stop()
    key = (server.indexdir / KEY_FILE).read_bytes()
    shutil.rmtree(server.datadir)
    shutil.rmtree(server.indexdir)
    server.indexdir.mkdir(parents=True)
    (server.indexdir / KEY_FILE).write_bytes(key)
    (server.indexdir / KEY_FILE).chmod(0o600)
    server.start()  # on the same port: the state file knows the server by its address
    with Client(port=server.port) as client:
        for i, value in enumerate(values):
            client.set(f"k{i}", value)


def test_client_refuses_a_server_that_rewrote_its_history(tmp_path: Path) -> None:
    server = ZdbProcess(tmp_path / "zdb").start()
    state = str(tmp_path / "state.json")
    try:
        with Client(port=server.port) as client:
            client.set("k0", b"first")
            client.set("k1", b"second")
        with Client(port=server.port, chain_state=state) as client:
            assert client.verified_get("k0") == b"first"
        _rewritten(server, [b"other", b"history"])  # as many leaves, other roots
        with Client(port=server.port, chain_state=state) as client:
            with pytest.raises(ProofMismatch, match="two roots for size"):
                client.verified_get("k0")
            with pytest.raises(ProofMismatch, match="two roots for size"):
                client.chain_head()
        _rewritten(server, [b"first"])  # a shorter history
        with (
            Client(port=server.port, chain_state=state) as client,
            pytest.raises(ProofMismatch, match="shrank from"),
        ):
            client.verified_get("k0")
        # a client without the state has nothing to compare with: the state is what tells
        with Client(port=server.port) as client:
            assert client.verified_get("k0") == b"first"
    finally:
        server.stop()
