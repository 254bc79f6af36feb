"""The seam between zero-stor and its storage: a small key/value interface, and its zero-db
implementation over :class:`zeroos.zdb.Client` (one per namespace).

Anything that passes the backend conformance suite (tests/stor/test_backend.py) can hold shards
or metadata: :class:`ZdbBackend` for real, :class:`MemoryBackend` for tests of the layers above.
Every zero-db error becomes a :class:`~zeroos.stor.errors.StorError` here, naming the server.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from zeroos.zdb import Client, KeyNotFound, ZdbError

from .config import ShardConfig
from .errors import DecryptionError, ShardUnavailable, StorError, from_zdb

_T = TypeVar("_T")
DOWN_FOR = 30.0  # seconds a server that failed to answer is skipped before it is tried again


@runtime_checkable
class Backend(Protocol):
    """One key/value namespace."""

    location: str  # host:port/namespace, as recorded in object records

    def set(self, key: bytes, value: bytes) -> None: ...
    def get(self, key: bytes) -> bytes | None: ...
    def mget(self, keys: list[bytes]) -> list[bytes | None]: ...
    def delete(self, key: bytes) -> None:
        """Remove a key; a missing key is not an error."""

    def scan(self) -> Iterator[tuple[bytes, int]]:
        """Every key with its last write time (unix seconds), in no promised order."""

    def close(self) -> None: ...


class ZdbBackend:
    """A zero-db namespace through :class:`zeroos.zdb.Client`; remembers when it was down."""

    def __init__(self, shard: ShardConfig, *, timeout: float, max_connections: int = 32) -> None:
        self.location = f"{shard.address}/{shard.namespace}"
        self.client = Client(
            shard.host,
            shard.port,
            namespace=shard.namespace,
            password=shard.password,
            timeout=timeout,
            max_connections=max_connections,
        )
        self._down_until = 0.0

    @property
    def healthy(self) -> bool:
        """False for a while after the server failed to answer."""
        return time.monotonic() >= self._down_until

    def _fail(self, exc: ZdbError) -> StorError:
        err = from_zdb(exc, self.location)
        if isinstance(err, ShardUnavailable):
            self._down_until = time.monotonic() + DOWN_FOR
        return err

    def set(self, key: bytes, value: bytes) -> None:
        try:
            self.client.set(key, value)
        except ZdbError as exc:
            raise self._fail(exc) from None
        self._down_until = 0.0

    def get(self, key: bytes) -> bytes | None:
        try:
            return self.client.get(key)
        except ZdbError as exc:
            raise self._fail(exc) from None

    def mget(self, keys: list[bytes]) -> list[bytes | None]:
        try:
            return self.client.mget(keys)
        except ZdbError as exc:
            raise self._fail(exc) from None

    def delete(self, key: bytes) -> None:
        try:
            self.client.delete(key)
        except KeyNotFound:
            return
        except ZdbError as exc:
            raise self._fail(exc) from None

    def scan(self) -> Iterator[tuple[bytes, int]]:
        try:
            for entry in self.client.scan_iter():
                yield entry.key, entry.timestamp
        except ZdbError as exc:
            raise self._fail(exc) from None

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"ZdbBackend({self.location})"


class MemoryBackend:
    """A dict behind a lock: the reference backend of the conformance suite."""

    def __init__(self, location: str = "memory") -> None:
        self.location = location
        self.healthy = True
        self.data: dict[bytes, tuple[bytes, int]] = {}
        self._lock = threading.Lock()

    def set(self, key: bytes, value: bytes) -> None:
        with self._lock:
            self.data[bytes(key)] = (bytes(value), int(time.time()))

    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            item = self.data.get(key)
        return None if item is None else item[0]

    def mget(self, keys: list[bytes]) -> list[bytes | None]:
        return [self.get(k) for k in keys]

    def delete(self, key: bytes) -> None:
        with self._lock:
            self.data.pop(key, None)

    def scan(self) -> Iterator[tuple[bytes, int]]:
        with self._lock:
            items = [(k, t) for k, (_, t) in self.data.items()]
        yield from items

    def close(self) -> None:
        pass


class EncryptedBackend:
    """Encrypts every value with AES-256-GCM (random nonce, the key as associated data)."""

    def __init__(self, inner: Backend, key: bytes) -> None:
        self.inner = inner
        self.location = inner.location
        self._aes = AESGCM(key)

    def _seal(self, key: bytes, value: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aes.encrypt(nonce, value, key)

    def _open(self, key: bytes, value: bytes | None) -> bytes | None:
        if value is None:
            return None
        try:
            return self._aes.decrypt(value[:12], value[12:], key)
        except (InvalidTag, ValueError):
            raise DecryptionError(
                f"metadata in {self.location} does not decrypt: wrong metastor private_key?"
            ) from None

    def set(self, key: bytes, value: bytes) -> None:
        self.inner.set(key, self._seal(key, value))

    def get(self, key: bytes) -> bytes | None:
        return self._open(key, self.inner.get(key))

    def mget(self, keys: list[bytes]) -> list[bytes | None]:
        return [self._open(k, v) for k, v in zip(keys, self.inner.mget(keys), strict=True)]

    def delete(self, key: bytes) -> None:
        self.inner.delete(key)

    def scan(self) -> Iterator[tuple[bytes, int]]:
        return self.inner.scan()

    def close(self) -> None:
        self.inner.close()


class Metastor:
    """Metadata on one or more namespaces: writes go to all of them, reads to the first that
    answers. Keys are prefixed with the zero-stor namespace, so several can share one."""

    def __init__(self, backends: Iterable[Backend], prefix: bytes) -> None:
        self.backends = list(backends)
        self.prefix = prefix

    def _key(self, key: bytes) -> bytes:
        return self.prefix + key

    def set(self, key: bytes, value: bytes) -> None:
        for backend in self.backends:
            backend.set(self._key(key), value)

    def delete(self, key: bytes) -> None:
        for backend in self.backends:
            backend.delete(self._key(key))

    def _read(self, fn: Callable[[Backend], _T]) -> _T:
        last = ShardUnavailable("no metastor shard is configured")
        for backend in self.backends:
            try:
                return fn(backend)
            except ShardUnavailable as exc:
                last = exc
        raise last

    def get(self, key: bytes) -> bytes | None:
        return self._read(lambda b: b.get(self._key(key)))

    def mget(self, keys: list[bytes]) -> list[bytes | None]:
        if not keys:
            return []
        full = [self._key(k) for k in keys]
        return self._read(lambda b: b.mget(full))

    def scan(self, kind: bytes) -> Iterator[tuple[bytes, int]]:
        """Keys (without the prefix) that start with ``kind``, with their write times."""
        start = self.prefix + kind
        cut = len(self.prefix)
        entries: list[tuple[bytes, int]] = self._read(
            lambda b: [(k, t) for k, t in b.scan() if k.startswith(start)]
        )
        for key, stamp in entries:
            yield key[cut:], stamp

    def close(self) -> None:
        for backend in self.backends:
            backend.close()


__all__ = ["DOWN_FOR", "Backend", "EncryptedBackend", "MemoryBackend", "Metastor", "ZdbBackend"]
