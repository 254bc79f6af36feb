"""zero-id's records in zero-db, through :class:`zeroos.zdb.Client`, in a namespace of its own.

Every lookup is one GET of one key:

===================  ==========================================================
``u:<username>``     the user: password hash, e-mails, public keys, direct organisation roles,
                     pending invitations, API key labels
``o:<globalid>``     the organisation: owners, members, invitations, children, API key labels
``k:<key id>``       an API key: owner, label, role, argon2 hash of its secret
``keyring``          the signing keys, sealed (AES-GCM under zero-id's key file, see
                     :mod:`zeroos.identity.sealed`); the namespace is private, with a password
===================  ==========================================================

A user's record holds their direct roles, so the scopes of a token (``user:memberof`` included,
sub-organisations too) come from a single GET. Changes that touch several records (joining an
organisation writes the organisation and the user) run under one lock, organisation first;
one zero-id process per namespace, which ``zos id serve`` enforces with a lease (see
:mod:`zeroos.identity.lease` and docs/identity.md).

Because that process is the only writer, it keeps the records it read or wrote in memory (the
stored bytes, so every reader still gets its own copy) and updates them on each write: a token
grant then costs no zero-db round trip, yet never sees a record older than the last write.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from typing import Final, TypeVar

from pydantic import BaseModel, ValidationError

from ..zdb.client import Client
from ..zdb.errors import KeyNotFound, NamespaceNotFound, ZdbError
from .errors import StorageUnavailable
from .models import ApiKeyRecord, OrgRecord, UserRecord

DEFAULT_NAMESPACE = "zeroid"
_CACHE_SIZE: Final = 20_000  # records kept in memory; the least recently used go first
_M = TypeVar("_M", bound=BaseModel)


class Store:
    """Typed records over one zero-db namespace; thread-safe (the client is a pool)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.lock = threading.RLock()  # held around read-modify-write of several records
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_lock = threading.Lock()
        # bumped by every write: a read that raced with a write must not cache what it read,
        # which may be the value from before the write
        self._writes = 0

    def close(self) -> None:
        self.client.close()

    # -- plumbing ---------------------------------------------------------------------------
    def cached(self, key: str) -> bytes | None:
        """The value of ``key`` when it is in memory (None: not known here, ask zero-db)."""
        with self._cache_lock:
            raw = self._cache.get(key)
            if raw is not None:
                self._cache.move_to_end(key)
            return raw

    def _remember(self, key: str, raw: bytes | None, writes: int | None = None) -> None:
        """Cache ``raw`` (None: forget ``key``); with ``writes``, only if no write came since."""
        with self._cache_lock:
            if writes is None:
                self._writes += 1
            elif writes != self._writes:
                return
            if raw is None:
                self._cache.pop(key, None)
                return
            self._cache[key] = raw
            self._cache.move_to_end(key)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)

    def _get(self, key: str, *, cache: bool = True) -> bytes | None:
        raw = self.cached(key) if cache else None
        if raw is not None:
            return raw
        writes = self._writes
        try:
            raw = self.client.get(key)
        except ZdbError as exc:
            raise StorageUnavailable(f"zero-db: {exc}") from exc
        if raw is not None and cache:
            self._remember(key, raw, writes)
        return raw

    def _set(self, key: str, value: bytes) -> None:
        try:
            self.client.set(key, value)
        except ZdbError as exc:
            self._remember(key, None)  # it may or may not have been written
            raise StorageUnavailable(f"zero-db: {exc}") from exc
        self._remember(key, value)

    def _delete(self, key: str) -> None:
        self._remember(key, None)
        try:
            self.client.delete(key)
        except KeyNotFound:
            return
        except ZdbError as exc:
            raise StorageUnavailable(f"zero-db: {exc}") from exc
        finally:
            self._remember(key, None)

    def _load(self, key: str, model: type[_M]) -> _M | None:
        return self._parse(key, self._get(key), model)

    async def _aload(self, key: str, model: type[_M]) -> _M | None:
        """:meth:`_load` for the event loop: zero-db is asked from a worker thread, on a miss
        only (rare: the cache holds every record written or read lately)."""
        raw = self.cached(key)
        if raw is None:
            raw = await asyncio.to_thread(self._get, key)
        return self._parse(key, raw, model)

    @staticmethod
    def _parse(key: str, raw: bytes | None, model: type[_M]) -> _M | None:
        if raw is None:
            return None
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            raise StorageUnavailable(f"zero-db: record {key!r} is unreadable") from exc

    def ping(self) -> None:
        try:
            self.client.ping()
        except ZdbError as exc:
            raise StorageUnavailable(f"zero-db: {exc}") from exc

    # -- records ----------------------------------------------------------------------------
    def user(self, username: str) -> UserRecord | None:
        return self._load(f"u:{username}", UserRecord)

    async def auser(self, username: str) -> UserRecord | None:
        return await self._aload(f"u:{username}", UserRecord)

    def put_user(self, user: UserRecord) -> None:
        self._set(f"u:{user.username}", user.model_dump_json().encode())

    def delete_user(self, username: str) -> None:
        self._delete(f"u:{username}")

    def org(self, globalid: str) -> OrgRecord | None:
        return self._load(f"o:{globalid}", OrgRecord)

    async def aorg(self, globalid: str) -> OrgRecord | None:
        return await self._aload(f"o:{globalid}", OrgRecord)

    def put_org(self, org: OrgRecord) -> None:
        self._set(f"o:{org.globalid}", org.model_dump_json().encode())

    def delete_org(self, globalid: str) -> None:
        self._delete(f"o:{globalid}")

    def apikey(self, keyid: str) -> ApiKeyRecord | None:
        return self._load(f"k:{keyid}", ApiKeyRecord)

    async def aapikey(self, keyid: str) -> ApiKeyRecord | None:
        return await self._aload(f"k:{keyid}", ApiKeyRecord)

    def put_apikey(self, key: ApiKeyRecord) -> None:
        self._set(f"k:{key.keyid}", key.model_dump_json().encode())

    def delete_apikey(self, keyid: str) -> None:
        self._delete(f"k:{keyid}")

    def keyring(self) -> bytes | None:
        # always from zero-db: KeyRing.reload() is how a rotation elsewhere is picked up
        return self._get("keyring", cache=False)

    def put_keyring(self, data: bytes) -> None:
        self._set("keyring", data)


def open_namespace(
    client: Client, namespace: str, password: str | None = None, *, create: bool = True
) -> None:
    """Enter zero-id's namespace, creating it (admin rights needed) when it is missing."""
    try:
        client.select(namespace, password)
        return
    except NamespaceNotFound as exc:
        if not create:
            raise StorageUnavailable(f"zero-db namespace {namespace!r}: {exc}") from exc
    except ZdbError as exc:
        raise StorageUnavailable(f"zero-db namespace {namespace!r}: {exc}") from exc
    try:
        client.nsnew(namespace)
        client.nsset(namespace, "public", False)
        if password:
            client.nsset(namespace, "password", password)
        client.select(namespace, password)
    except ZdbError as exc:
        raise StorageUnavailable(f"cannot create zero-db namespace {namespace!r}: {exc}") from exc


def protect_namespace(client: Client, namespace: str, password: str) -> None:
    """As zero-db's admin: create ``namespace`` if missing, make it private with ``password``
    (again at every start: a namespace made before it had one gets it), and enter it."""
    try:
        try:
            client.nsinfo(namespace)
        except NamespaceNotFound:
            client.nsnew(namespace)
        client.nsset(namespace, "public", False)
        client.nsset(namespace, "password", password)
        client.select(namespace, password)
    except ZdbError as exc:
        raise StorageUnavailable(f"cannot protect zero-db namespace {namespace!r}: {exc}") from exc


__all__ = ["DEFAULT_NAMESPACE", "Store", "open_namespace", "protect_namespace"]
