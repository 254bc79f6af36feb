"""The key ring at rest: sealed in zero-db, a clear one from before sealed at the next start."""

from __future__ import annotations

import json

import pytest

from zeroos.identity.errors import StorageUnavailable
from zeroos.identity.sealed import Sealer
from zeroos.identity.server import EmbeddedZdb, make_identity
from zeroos.identity.service import Settings
from zeroos.identity.tokens import SigningKey

from .conftest import FAST_HASH


def test_a_clear_key_ring_is_sealed_at_start_and_keeps_its_keys(zdb: EmbeddedZdb) -> None:
    client = zdb.client("sealedlegacy")
    old = SigningKey.generate()
    client.set("keyring", json.dumps({"keys": [old.dump()]}).encode())  # as stored before
    sealer = Sealer.generate()
    ident = make_identity(client, Settings(hash_cost=FAST_HASH), sealer)
    try:
        assert ident.ring.active.kid == old.kid  # the same key signs on: live tokens stay valid
        raw = client.get("keyring")
        assert raw is not None
        assert b"PRIVATE KEY" not in raw
        assert json.loads(sealer.open(raw))["keys"][0]["kid"] == old.kid
        # another key file cannot open it: one clear line, no key used
        other = zdb.client("sealedlegacy")
        with pytest.raises(StorageUnavailable, match="does not open with this key file"):
            make_identity(other, Settings(), Sealer.generate())
        other.close()
    finally:
        ident.store.close()
