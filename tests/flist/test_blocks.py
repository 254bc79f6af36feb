"""The block encoding against our checked-in vectors and against its definition."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import snappy
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from zeroos.flist import blocks
from zeroos.flist.errors import BlockError
from zeroos.flist.models import BlockRef

VECTORS = json.loads((Path(__file__).parent / "block_vectors.json").read_text())


def _plain(v: dict[str, object]) -> bytes:
    if v["plain_hex"] is not None:
        return bytes.fromhex(str(v["plain_hex"]))
    byte, count = v["plain_repeat"]  # type: ignore[misc]
    return bytes.fromhex(byte) * count


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: str(v["id"])[:8])
def test_vectors(vector: dict[str, object]) -> None:
    plain = _plain(vector)
    ref, sealed = blocks.encode(plain)
    assert ref.key.hex() == vector["key"]
    assert ref.id.hex() == vector["id"]
    if vector["ciphertext_hex"] is not None:
        assert sealed.hex() == vector["ciphertext_hex"]
    assert blocks.decode(ref, sealed) == plain


def test_definition() -> None:
    """key = blake2b-256(plain); raw snappy; AES-256-GCM nonce key[:12]; id = blake2b(sealed)."""
    plain = b"the same bytes twice " * 1000
    ref, sealed = blocks.encode(plain)
    assert ref.key == hashlib.blake2b(plain, digest_size=32).digest()
    assert ref.id == hashlib.blake2b(sealed, digest_size=32).digest()
    compressed = AESGCM(ref.key).decrypt(ref.key[:12], sealed, None)
    assert snappy.decompress(compressed) == plain
    assert not compressed.startswith(b"\xff\x06\x00\x00sNaPpY")  # raw, not the framing format
    assert len(compressed) < len(plain) // 10
    assert blocks.encode(plain) == (ref, sealed)  # convergent: same block, same id


def test_tampered_block_refused() -> None:
    ref, sealed = blocks.encode(b"payload")
    bad = bytes([sealed[0] ^ 1]) + sealed[1:]
    with pytest.raises(BlockError, match="do not match the block's id"):
        blocks.decode(ref, bad)
    # an id that matches altered bytes still fails: the key cannot open them
    forged = BlockRef(blocks.digest(bad), ref.key)
    with pytest.raises(BlockError, match="cannot be decrypted"):
        blocks.decode(forged, bad)
