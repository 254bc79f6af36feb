"""What happens to one block: hash, compress, encrypt on the way in; the reverse on the way out.

* The block id is the blake2b-256 of the plaintext, keyed (hashing.private_key, or a key derived
  from the encryption key) so that the store cannot confirm a guess of the content.
* Compression: zstd, lz4 (frame), snappy or none. A block that does not shrink is stored as is;
  each object records the codec it used, so a config change never strands old data.
* Encryption: AES-256-GCM with a random 96-bit nonce (stored in front), convergent (the key and
  nonce derive from the block id and the private key: equal blocks encrypt to equal bytes, so they
  deduplicate and concurrent writers agree), or none. The block id is the associated data, so a
  payload cannot be swapped for another block's; an unencrypted block is checked against its id
  when read.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Final

import lz4.frame  # type: ignore[import-untyped]
import snappy  # type: ignore[import-untyped]
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .config import PipelineConfig
from .errors import DataLost, DecryptionError, StorError

COMPRESSION_IDS: Final = {"none": 0, "zstd": 1, "lz4": 2, "snappy": 3}
ENCRYPTION_IDS: Final = {"none": 0, "aes-gcm": 1, "convergent": 2}
NONCE_SIZE: Final = 12
ID_SIZE: Final = 32


def derive(secret: bytes, label: bytes, size: int = 32) -> bytes:
    """A sub-key of ``secret`` for one purpose (label), so one private key serves them all."""
    return hashlib.blake2b(label, key=secret, digest_size=size, person=b"zstor-derive").digest()


@dataclass(frozen=True, slots=True)
class Encoded:
    """A block ready for distribution: its codecs and the payload to spread over shards."""

    compression: int
    encryption: int
    payload: bytes


class Pipeline:
    """Hashes, compresses and encrypts blocks for one configuration; safe to share by threads."""

    def __init__(self, cfg: PipelineConfig) -> None:
        self.cfg = cfg
        enc_key = cfg.encryption.key
        if cfg.hashing.private_key:
            self.hash_key = bytes.fromhex(cfg.hashing.private_key)
        elif enc_key is not None:
            self.hash_key = derive(enc_key, b"block-id")
        else:
            self.hash_key = b""
        self.enc_key = enc_key
        self.compression = COMPRESSION_IDS[cfg.compression.type]
        self.encryption = ENCRYPTION_IDS[cfg.encryption.type]
        self._aes = AESGCM(enc_key) if enc_key is not None else None
        self._local = threading.local()

    # -- hashing ------------------------------------------------------------------------------
    def block_id(self, data: bytes | memoryview) -> bytes:
        return hashlib.blake2b(data, key=self.hash_key, digest_size=ID_SIZE).digest()

    # -- compression ----------------------------------------------------------------------------
    def _zstd(self) -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
        pair: tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor] | None = getattr(
            self._local, "zstd", None
        )
        if pair is None:
            pair = (
                zstandard.ZstdCompressor(level=self.cfg.compression.level),
                zstandard.ZstdDecompressor(),
            )
            self._local.zstd = pair
        return pair

    def compress(self, data: bytes) -> tuple[int, bytes]:
        kind = self.compression
        if kind == 0 or not data:
            return 0, data
        level = self.cfg.compression.level
        if kind == 1:
            out = self._zstd()[0].compress(data)
        elif kind == 2:
            out = lz4.frame.compress(data, compression_level=max(level, 0))
        else:
            out = snappy.compress(data)
        if len(out) >= len(data):
            return 0, data  # incompressible: keep it raw, cheaper to read back
        return kind, bytes(out)

    def decompress(self, kind: int, data: bytes, size: int) -> bytes:
        if kind == 0:
            return data
        if kind == 1:
            return bytes(self._zstd()[1].decompress(data, max_output_size=size))
        if kind == 2:
            return bytes(lz4.frame.decompress(data))
        if kind == 3:
            return bytes(snappy.decompress(data))
        raise DataLost(f"unknown compression id {kind} in an object record")

    # -- encryption ------------------------------------------------------------------------------
    @staticmethod
    def _convergent(enc_key: bytes, block_id: bytes) -> tuple[AESGCM, bytes]:
        key = hashlib.blake2b(block_id, key=enc_key, digest_size=32, person=b"zstor-ckey")
        nonce = hashlib.blake2b(block_id, key=enc_key, digest_size=12, person=b"zstor-cnon")
        return AESGCM(key.digest()), nonce.digest()

    def encrypt(self, block_id: bytes, data: bytes) -> tuple[int, bytes]:
        kind = self.encryption
        if kind == 0:
            return 0, data
        if self.enc_key is None or self._aes is None:  # the config's validation prevents it
            raise StorError(f"encryption {self.cfg.encryption.type} needs a private_key")
        if kind == 1:
            nonce = os.urandom(NONCE_SIZE)
            return 1, nonce + self._aes.encrypt(nonce, data, block_id)
        aes, nonce = self._convergent(self.enc_key, block_id)
        return 2, aes.encrypt(nonce, data, block_id)

    def decrypt(self, kind: int, block_id: bytes, data: bytes) -> bytes:
        if kind == 0:
            return data
        if self.enc_key is None or self._aes is None:
            raise DecryptionError(
                "stored blocks are encrypted but the config has no encryption private_key"
            )
        try:
            if kind == 1:
                view = memoryview(data)  # slices of a view: no copy of the body
                return self._aes.decrypt(view[:NONCE_SIZE], view[NONCE_SIZE:], block_id)
            if kind == 2:
                aes, nonce = self._convergent(self.enc_key, block_id)
                return aes.decrypt(nonce, data, block_id)
        except InvalidTag:
            raise DecryptionError(
                f"block {block_id.hex()[:16]} does not decrypt: wrong encryption private_key?"
            ) from None
        raise DataLost(f"unknown encryption id {kind} in an object record")

    # -- whole block ---------------------------------------------------------------------------
    def encode(self, block_id: bytes, data: bytes) -> Encoded:
        comp, body = self.compress(data)
        enc, body = self.encrypt(block_id, body)
        return Encoded(comp, enc, body)

    def decode(self, block_id: bytes, enc: Encoded, size: int) -> bytes:
        body = self.decrypt(enc.encryption, block_id, enc.payload)
        try:
            data = self.decompress(enc.compression, body, size)
        except Exception as exc:  # any codec error means the bytes are not what was stored
            raise DecryptionError(
                f"block {block_id.hex()[:16]} does not decompress ({exc}): wrong key or corrupt"
            ) from None
        if len(data) != size:
            raise DecryptionError(
                f"block {block_id.hex()[:16]} has {len(data)} bytes, its record says {size}"
            )
        # an encrypted block passed its AEAD tag, whose associated data is the block id: it is
        # what a holder of the key stored under this id, and only such a holder could also
        # rewrite the metadata that points at it. Hashing it again would add a pass over
        # every byte read and nothing else; unencrypted blocks have only the id to check.
        if enc.encryption == 0 and self.block_id(data) != block_id:
            raise DecryptionError(
                f"block {block_id.hex()[:16]} does not match its hash: wrong hashing key?"
            )
        return data


__all__ = ["COMPRESSION_IDS", "ENCRYPTION_IDS", "Encoded", "Pipeline", "derive"]
