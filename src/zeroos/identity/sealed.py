"""Secrets zero-id keeps on disk: owner-only files, and the key ring sealed with AES-GCM.

The signing keys live in zero-db, which other processes may reach; so the key ring record is
AES-256-GCM ciphertext under a key kept in a file only zero-id's user can read (``--key-file``,
by default ``DATA/keyring.key``). Reading zero-db's record without that file gives nothing.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import StorageUnavailable

_KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12
_FORMAT: Final = "zeroid-sealed-1"
_AAD: Final = b"zeroid key ring"  # a sealed record opens only as what it was sealed for


class SecretFileError(StorageUnavailable):
    """A secret file that cannot be read, written, or is readable by others."""


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner may enter (created, or narrowed to 0700)."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o700)
    except OSError as exc:
        raise SecretFileError(f"cannot make the private folder {path}: {exc.strerror}") from exc
    return path


def read_or_create(path: Path, make: bytes) -> bytes:
    """The content of the owner-only file ``path``, written with ``make`` when it is missing.

    A file others may read is refused rather than used: its secret may be known already. A
    missing folder is made 0700; an existing one is left as it is (it may be the user's home).
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise SecretFileError(f"cannot create {path}: {exc.strerror}") from exc
    else:
        with os.fdopen(fd, "wb") as out:
            out.write(make)
            out.flush()
            os.fsync(out.fileno())
        return make
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        data = path.read_bytes()
    except OSError as exc:
        raise SecretFileError(f"cannot read {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise SecretFileError(
            f"{path} is readable by others (mode {mode:o}): chmod 600 it, "
            "and change the secret if others may have read it"
        )
    return data


def load_key(path: Path) -> bytes:
    """The key ring key from ``path`` (64 hex digits), made at random the first time."""
    text = read_or_create(path, secrets.token_hex(_KEY_BYTES).encode() + b"\n")
    try:
        key = bytes.fromhex(text.decode().strip())
    except ValueError:
        key = b""
    if len(key) != _KEY_BYTES:
        raise SecretFileError(f"{path} must hold {_KEY_BYTES * 2} hex digits (a 256-bit key)")
    return key


class Sealer:
    """AES-256-GCM around the key ring record: a random nonce each time, the format checked."""

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ValueError(f"the key ring key must be {_KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    @classmethod
    def generate(cls) -> Sealer:
        """A sealer with a new random key (tests, and keys held by no file)."""
        return cls(AESGCM.generate_key(bit_length=_KEY_BYTES * 8))

    def seal(self, plain: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plain, _AAD)
        record = {
            "format": _FORMAT,
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(sealed).decode(),
        }
        return json.dumps(record).encode()

    @staticmethod
    def is_sealed(data: bytes) -> bool:
        try:
            record = json.loads(data)
        except ValueError:
            return False
        return isinstance(record, dict) and record.get("format") == _FORMAT

    def open(self, data: bytes) -> bytes:
        """The plaintext of a sealed record; StorageUnavailable when the key does not fit."""
        try:
            record = json.loads(data)
            nonce = base64.b64decode(record["nonce"], validate=True)
            sealed = base64.b64decode(record["ciphertext"], validate=True)
            return self._aead.decrypt(nonce, sealed, _AAD)
        except InvalidTag as exc:
            raise StorageUnavailable(
                "the key ring in zero-db does not open with this key file (another zero-id's "
                "key, or a changed --key-file)"
            ) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageUnavailable("the key ring in zero-db is not a sealed record") from exc


__all__ = ["Sealer", "SecretFileError", "load_key", "private_dir", "read_or_create"]
