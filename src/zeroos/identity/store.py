"""zero-id's records in zero-db, through :class:`zeroos.zdb.Client`, in a namespace of its own.

Every lookup is one GET of one key:

===================  ==========================================================
``u:<username>``     the user: password hash, e-mails, public keys, direct organisation roles,
                     pending invitations, API key labels
``o:<globalid>``     the organisation: owners, members, invitations, children, API key labels
``k:<key id>``       an API key: owner, label, role, argon2 hash of its secret
``keyring``          the signing keys (private keys: keep the namespace private, with a password)
===================  ==========================================================

A user's record holds their direct roles, so the scopes of a token (``user:memberof`` included,
sub-organisations too) come from a single GET. Changes that touch several records (joining an
organisation writes the organisation and the user) run under one lock, organisation first;
one zero-id process per namespace is the supported set-up (see docs/identity.md).
"""

from __future__ import annotations

import threading
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ..zdb.client import Client
from ..zdb.errors import KeyNotFound, NamespaceNotFound, ZdbError
from .errors import StorageUnavailable
from .models import ApiKeyRecord, OrgRecord, UserRecord

DEFAULT_NAMESPACE = "zeroid"
_M = TypeVar("_M", bound=BaseModel)


class Store:
    """Typed records over one zero-db namespace; thread-safe (the client is a pool)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.lock = threading.RLock()  # held around read-modify-write of several records

    def close(self) -> None:
        self.client.close()

    # -- plumbing ---------------------------------------------------------------------------
    def _get(self, key: str) -> bytes | None:
        try:
            return self.client.get(key)
        except ZdbError as exc:
            raise StorageUnavailable(f"zero-db: {exc}") from exc

    def _set(self, key: str, value: bytes) -> None:
        try:
            self.client.set(key, value)
        except ZdbError as exc:
            raise StorageUnavailable(f"zero-db: {exc}") from exc

    def _delete(self, key: str) -> None:
        try:
            self.client.delete(key)
        except KeyNotFound:
            return
        except ZdbError as exc:
            raise StorageUnavailable(f"zero-db: {exc}") from exc

    def _load(self, key: str, model: type[_M]) -> _M | None:
        raw = self._get(key)
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

    def put_user(self, user: UserRecord) -> None:
        self._set(f"u:{user.username}", user.model_dump_json().encode())

    def org(self, globalid: str) -> OrgRecord | None:
        return self._load(f"o:{globalid}", OrgRecord)

    def put_org(self, org: OrgRecord) -> None:
        self._set(f"o:{org.globalid}", org.model_dump_json().encode())

    def delete_org(self, globalid: str) -> None:
        self._delete(f"o:{globalid}")

    def apikey(self, keyid: str) -> ApiKeyRecord | None:
        return self._load(f"k:{keyid}", ApiKeyRecord)

    def put_apikey(self, key: ApiKeyRecord) -> None:
        self._set(f"k:{key.keyid}", key.model_dump_json().encode())

    def delete_apikey(self, keyid: str) -> None:
        self._delete(f"k:{keyid}")

    def keyring(self) -> bytes | None:
        return self._get("keyring")

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


__all__ = ["DEFAULT_NAMESPACE", "Store", "open_namespace"]
