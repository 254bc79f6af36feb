"""Argon2id hashes for passwords and API-key secrets, and a cache of verified API-key secrets.

API-key secrets are long random strings, verified on every client_credentials grant. Argon2 on
each grant would cap issuance at a few dozen tokens a second, so a secret that verified once is
remembered as an HMAC of (key id, stored hash, secret) under a per-process random key: the
stored hash stays the only thing on disk, a deleted or replaced key misses the cache (its hash
changed), and the cache holds no secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_CACHE_SIZE: Final = 10_000


@dataclass(frozen=True, slots=True)
class HashCost:
    """Argon2id parameters (argon2-cffi's defaults: RFC 9106's low-memory profile)."""

    time_cost: int = 3
    memory_kib: int = 65_536
    parallelism: int = 4


class Hasher:
    """Hash and check secrets; thread-safe."""

    def __init__(self, cost: HashCost | None = None) -> None:
        cost = cost or HashCost()
        self._ph = PasswordHasher(
            time_cost=cost.time_cost, memory_cost=cost.memory_kib, parallelism=cost.parallelism
        )
        # verified against when a user does not exist, so both paths cost the same
        self._dummy = self._ph.hash(secrets.token_urlsafe(16))
        self._cache_key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(64)]

    def hash(self, secret: str) -> str:
        return self._ph.hash(secret)

    def verify(self, stored: str | None, secret: str) -> bool:
        """Whether ``secret`` matches the stored hash; None (no such user) costs the same."""
        try:
            return self._ph.verify(stored or self._dummy, secret) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _tag(self, key_id: str, stored: str, secret: str) -> bytes:
        text = f"{key_id}\0{stored}\0{secret}".encode()
        return hmac.new(self._cache_key, text, hashlib.sha256).digest()

    def known(self, key_id: str, stored: str, secret: str) -> bool:
        """Whether this secret already verified against this stored hash (no argon2 run)."""
        return self._cached(self._tag(key_id, stored, secret))

    def verify_cached(self, key_id: str, stored: str, secret: str) -> bool:
        """Like :meth:`verify`, remembering a success for this exact stored hash."""
        tag = self._tag(key_id, stored, secret)
        if self._cached(tag):
            return True
        # one argon2 run per key at a time: a burst of grants waits for the first one
        with self._stripes[tag[0] % len(self._stripes)]:
            if self._cached(tag):
                return True
            if not self.verify(stored, secret):
                return False
            with self._lock:
                self._verified[tag] = None
                while len(self._verified) > _CACHE_SIZE:
                    self._verified.popitem(last=False)
        return True

    def _cached(self, tag: bytes) -> bool:
        with self._lock:
            if tag in self._verified:
                self._verified.move_to_end(tag)
                return True
        return False


__all__ = ["HashCost", "Hasher"]
