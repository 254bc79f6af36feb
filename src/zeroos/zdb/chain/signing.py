"""Ed25519 server identities and signed tree heads.

A head says "namespace N's log had ``size`` leaves with root ``root`` at ``timestamp_us``",
signed by the server's key. The signed message is domain-separated and binds the namespace,
so a head can't be replayed for another namespace or mistaken for anything else.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ZdbError

KEY_FILE = "zdb-identity.key"
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
_HEAD_DOMAIN = b"zeroos-zdb-tree-head-v1\x00"
_AUTH_DOMAIN = b"zeroos-zdb-auth-v1\x00"
_u64x2 = struct.Struct(">QQ")


class SignatureError(ValueError):
    """A signature or a key does not verify."""


def _head_message(namespace: str, size: int, timestamp_us: int, root: bytes) -> bytes:
    ns = namespace.encode()
    return _HEAD_DOMAIN + bytes([len(ns)]) + ns + _u64x2.pack(size, timestamp_us) + root


def auth_message(nonce: str, namespace: str) -> bytes:
    """What an owner signs to answer an ``AUTH SIGNED`` challenge."""
    return _AUTH_DOMAIN + nonce.encode() + b"\x00" + namespace.encode()


def public_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != PUBLIC_KEY_SIZE:
        raise SignatureError("an Ed25519 public key is 32 bytes")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:  # pragma: no cover - every 32 bytes decode in cryptography
        raise SignatureError(f"not an Ed25519 public key: {exc}") from None


def public_key_from_hex(text: str) -> bytes:
    """Parse a hex public key (64 hex digits); raise SignatureError when it is not one."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise SignatureError("a public key is 64 hex digits") from None
    public_key_from_bytes(raw)
    return raw


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> None:
    if len(signature) != SIGNATURE_SIZE:
        raise SignatureError("an Ed25519 signature is 64 bytes")
    try:
        public_key_from_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        raise SignatureError("signature does not verify") from None


@dataclass(frozen=True, slots=True)
class SignedHead:
    """A signed tree head of one namespace's log."""

    namespace: str
    size: int
    root: bytes
    timestamp_us: int
    signature: bytes
    public_key: bytes

    def message(self) -> bytes:
        return _head_message(self.namespace, self.size, self.timestamp_us, self.root)

    def verify(self, public_key: bytes | None = None) -> None:
        """Raise SignatureError unless the head is signed by its key (and that key is pinned)."""
        if public_key is not None and public_key != self.public_key:
            raise SignatureError(
                f"head is signed by key {self.public_key.hex()}, expected {public_key.hex()}"
            )
        verify_signature(self.public_key, self.signature, self.message())

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "size": self.size,
            "root": self.root.hex(),
            "timestamp_us": self.timestamp_us,
            "signature": self.signature.hex(),
            "public_key": self.public_key.hex(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignedHead:
        try:
            return cls(
                namespace=str(data["namespace"]),
                size=int(data["size"]),
                root=bytes.fromhex(data["root"]),
                timestamp_us=int(data["timestamp_us"]),
                signature=bytes.fromhex(data["signature"]),
                public_key=bytes.fromhex(data["public_key"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SignatureError(f"not a signed head: {exc}") from None


class Identity:
    """A server's Ed25519 key pair."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_key = private.public_key().public_bytes_raw()

    @classmethod
    def generate(cls) -> Identity:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, folder: str) -> Identity:
        """The key kept in ``folder`` (mode 0600), created there on first use."""
        path = os.path.join(folder, KEY_FILE)
        try:
            with open(path, "rb") as fh:
                seed = fh.read()
        except FileNotFoundError:
            identity = cls.generate()
            os.makedirs(folder, exist_ok=True)
            tmp = path + ".tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, identity._private.private_bytes_raw())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            return identity
        except OSError as exc:
            raise ZdbError(f"cannot read the server key {path}: {exc.strerror}") from exc
        if len(seed) != 32:
            raise ZdbError(f"server key {path} is damaged (expected 32 bytes)")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def sign_head(self, namespace: str, size: int, root: bytes, timestamp_us: int) -> SignedHead:
        signature = self.sign(_head_message(namespace, size, timestamp_us, root))
        return SignedHead(namespace, size, root, timestamp_us, signature, self.public_key)


def sign_auth(private: Ed25519PrivateKey, nonce: str, namespace: str) -> str:
    """The hex signature an owner sends to ``AUTH SIGNED`` (client helper)."""
    return private.sign(auth_message(nonce, namespace)).hex()


__all__ = [
    "KEY_FILE",
    "Identity",
    "SignatureError",
    "SignedHead",
    "auth_message",
    "public_key_from_bytes",
    "public_key_from_hex",
    "sign_auth",
    "verify_signature",
]
