"""zero-id's API keys, of users and organisations (secrets hashed, shown once)."""

from __future__ import annotations

import secrets
from typing import Literal

from .access import (
    Access,
    key_view,
    now,
)
from .errors import Conflict, NotFound
from .models import (
    ApiKeyCreated,
    ApiKeyRecord,
    ApiKeyView,
    Role,
    UserRecord,
)


class ApiKeys(Access):
    """zero-id's API keys, of users and organisations (secrets hashed, shown once)."""

    def create_apikey(
        self, owner_kind: Literal["user", "organization"], owner: str, label: str, role: Role
    ) -> ApiKeyCreated:
        keyid = secrets.token_urlsafe(9)
        secret = f"{keyid}.{secrets.token_urlsafe(32)}"
        record = ApiKeyRecord(
            keyid=keyid,
            kind=owner_kind,
            owner=owner,
            label=label,
            role=role if owner_kind == "organization" else "owner",
            secret_hash=self.hasher.hash(secret),
            created=now(),
        )
        with self.store.lock:
            holder = self._user(owner) if owner_kind == "user" else self._org(owner)
            if label in holder.apikeys:
                raise Conflict(f"an API key labelled '{label}' exists")
            holder.apikeys[label] = keyid
            self.store.put_apikey(record)
            if isinstance(holder, UserRecord):
                self.store.put_user(holder)
            else:
                self.store.put_org(holder)
        return ApiKeyCreated(
            label=label, client_id=owner, role=record.role, created=record.created, secret=secret
        )

    def _keys_of(self, owner_kind: str, owner: str) -> dict[str, str]:
        return (self._user(owner) if owner_kind == "user" else self._org(owner)).apikeys

    def list_apikeys(self, owner_kind: str, owner: str) -> list[ApiKeyView]:
        out = []
        for keyid in self._keys_of(owner_kind, owner).values():
            key = self.store.apikey(keyid)
            if key is not None:
                out.append(key_view(key))
        return out

    def get_apikey(self, owner_kind: str, owner: str, label: str) -> ApiKeyView:
        keyid = self._keys_of(owner_kind, owner).get(label)
        key = self.store.apikey(keyid) if keyid else None
        if key is None:
            raise NotFound(f"no API key labelled '{label}'")
        return key_view(key)

    def delete_apikey(self, owner_kind: str, owner: str, label: str) -> None:
        with self.store.lock:
            holder = self._user(owner) if owner_kind == "user" else self._org(owner)
            keyid = holder.apikeys.pop(label, None)
            if keyid is None:
                raise NotFound(f"no API key labelled '{label}'")
            self.store.delete_apikey(keyid)
            if isinstance(holder, UserRecord):
                self.store.put_user(holder)
            else:
                self.store.put_org(holder)


__all__ = ["ApiKeys"]
