"""The key ring at rest: sealed in zero-db, a clear one from before sealed at the next start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zeroos.identity.errors import StorageUnavailable
from zeroos.identity.sealed import Sealer, SecretFileError, load_key
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


def test_a_key_file_is_made_once_owner_only_and_its_folder_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    key = load_key(shared / "keyring.key")
    assert oct((shared / "keyring.key").stat().st_mode & 0o777) == "0o600"
    assert oct(shared.stat().st_mode & 0o777) == "0o755"  # --key-file ~/k must not chmod ~
    assert load_key(shared / "keyring.key") == key
    assert len(key) == 32
    fresh = load_key(tmp_path / "new" / "dir" / "k")  # missing folders are made private
    assert oct((tmp_path / "new" / "dir").stat().st_mode & 0o777) == "0o700"
    assert fresh != key
    (shared / "keyring.key").write_text("not hex\n")
    with pytest.raises(SecretFileError, match=r"must hold 64 hex digits \(a 256-bit key\)$"):
        load_key(shared / "keyring.key")
