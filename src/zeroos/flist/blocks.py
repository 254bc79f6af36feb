"""How one block of file content is stored, exactly as rfs stores it.

key = blake2b-256(plain); the plain bytes are compressed with raw snappy (no framing), then
sealed with AES-256-GCM under that key with nonce key[:12]; id = blake2b-256(ciphertext).
The same plain block always gives the same id, so blocks deduplicate across files and flists,
and a store holding ciphertext learns nothing of the content without the flist.
"""

from __future__ import annotations

import hashlib

import cramjam
import snappy  # type: ignore[import-untyped]
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import BlockError
from .models import BlockRef

ID_SIZE = 32
NONCE_SIZE = 12


def digest(data: bytes | memoryview) -> bytes:
    """blake2b with a 32-byte digest: block keys and ids."""
    return hashlib.blake2b(data, digest_size=ID_SIZE).digest()


def encode(plain: bytes | memoryview) -> tuple[BlockRef, bytes]:
    """Seal one block of plain bytes: its reference (id, key) and the ciphertext to store."""
    return seal(digest(plain), plain)


def seal(key: bytes, plain: bytes | memoryview) -> tuple[BlockRef, bytes]:
    """Seal a block whose key (blake2b-256 of ``plain``) is already known."""
    compressed = snappy.compress(bytes(plain))
    sealed = AESGCM(key).encrypt(key[:NONCE_SIZE], compressed, None)
    return BlockRef(digest(sealed), key), sealed


def verify(ref: BlockRef, ciphertext: bytes) -> None:
    """Check that stored bytes are the block ``ref`` names (BlockError when they are not)."""
    if digest(ciphertext) != ref.id:
        raise BlockError(f"block {ref.id.hex()}: stored bytes do not match the block's id")


def unseal(ref: BlockRef, ciphertext: bytes) -> memoryview:
    """Open one stored block checked against its id only: its plain bytes, read-only, uncopied.

    The mount's hot path: hashing the plain bytes again against the key would be half of the
    work, and once the id matched and AES-GCM's tag held they are the bytes the flist's maker
    sealed. The bytes stay in the decompressor's buffer (python-snappy copies every block
    into a new bytes object: as much CPU as decompressing it).
    """
    verify(ref, ciphertext)
    if len(ref.key) != ID_SIZE:
        raise BlockError(f"block {ref.id.hex()}: its key is {len(ref.key)} bytes, not 32")
    try:
        compressed = AESGCM(ref.key).decrypt(ref.key[:NONCE_SIZE], ciphertext, None)
        return memoryview(cramjam.snappy.decompress_raw(compressed))
    except InvalidTag as exc:
        raise BlockError(f"block {ref.id.hex()}: cannot be decrypted with its key") from exc
    except cramjam.DecompressionError as exc:
        raise BlockError(f"block {ref.id.hex()}: cannot be decompressed: {exc}") from exc


def decode(ref: BlockRef, ciphertext: bytes) -> bytes:
    """Open one stored block: check its id, decrypt, decompress, check the key."""
    plain = unseal(ref, ciphertext)
    if digest(plain) != ref.key:
        raise BlockError(f"block {ref.id.hex()}: content does not match its key")
    return bytes(plain)
