"""Who is calling zero-id, and what they may do: the service's state and its checks.

Every operation of :class:`zeroos.identity.service.Identity` takes the caller (a
:class:`Principal`, or None for anonymous) and checks it here before touching anything.
Authorisation always reads the current records, so a role lost a moment ago no longer opens
anything, whatever a token still says.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

from .errors import BadRequest, Conflict, Forbidden, InvalidToken, NotFound
from .models import (
    ApiKeyRecord,
    ApiKeyView,
    OrgRecord,
    OrgView,
    Role,
    UserRecord,
    UserView,
)
from .passwords import HashCost, Hasher
from .rules import parent, role_in
from .sealed import Sealer
from .store import Store
from .throttle import Limits, Throttle
from .tokens import DEFAULT_TTL, MAX_VALIDITY, KeyRing, decode

FULL: Final = "user:admin"  # ItsYou.Online's scope for full control of one's own account
MEMBEROF: Final = "user:memberof:"
MAX_SCOPES: Final = 50
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class Settings:
    issuer: str = "http://127.0.0.1:8080"
    token_ttl: int = DEFAULT_TTL
    max_validity: int = MAX_VALIDITY
    registration: bool = True  # False: only site admins create users
    limits: Limits = field(default_factory=Limits)
    hash_cost: HashCost = field(default_factory=HashCost)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified bearer token speaks for."""

    kind: Literal["user", "organization"]
    name: str
    scope: frozenset[str]
    claims: dict[str, Any]

    @property
    def full(self) -> bool:
        """A user's token with full control of their account (password grant, user API key)."""
        return self.kind == "user" and FULL in self.scope

    @property
    def org_role(self) -> Role | None:
        if self.kind != "organization":
            return None
        if "organization:owner" in self.scope:
            return "owner"
        return "member" if "organization:member" in self.scope else None


def now() -> int:
    return int(time.time())


def user_view(user: UserRecord) -> UserView:
    return UserView(
        username=user.username,
        emailaddresses=[{"label": k, "emailaddress": v} for k, v in user.emails.items()],
        publicKeys=[{"label": k, "publickey": v} for k, v in user.publickeys.items()],
        admin=user.admin,
        organizations=user.organizations,
        invitations=user.invitations,
        created=user.created,
    )


def org_view(org: OrgRecord) -> OrgView:
    return OrgView(
        globalid=org.globalid,
        owners=org.owners,
        members=org.members,
        children=org.children,
        created=org.created,
    )


def split_list(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def audiences(text: str | None) -> list[str]:
    """The ``aud`` of a JWT from a comma-separated list, checked."""
    aud = split_list(text)
    if len(aud) > 10 or any(len(a) > 200 for a in aud):
        raise BadRequest("at most 10 audiences of at most 200 characters")
    return aud


class Access:
    """zero-id's state (store, settings, key ring, throttle) and the checks on the caller."""

    def __init__(self, store: Store, settings: Settings, sealer: Sealer) -> None:
        """``sealer`` seals the key ring before it is stored (see :mod:`.sealed`)."""
        self.store = store
        self.settings = settings
        self.hasher = Hasher(settings.hash_cost)
        self.throttle = Throttle(settings.limits)
        self.ring = KeyRing(store, sealer, settings.max_validity)
        self.counters: dict[str, int] = {"tokens_issued": 0}

    def metrics(self) -> dict[str, int]:
        """The counters /metrics shows: tokens issued, logins failed and refused (429)."""
        return {
            **self.counters,
            "logins_failed": self.throttle.failed_total,
            "logins_throttled": self.throttle.refused_total,
        }

    # -- who is calling -------------------------------------------------------------------
    def authenticate(self, token: str, *, any_audience: bool = False) -> Principal:
        """The caller of a bearer token; tokens for another audience are refused here."""
        claims = decode(
            token,
            self.ring.public_key,
            issuer=self.settings.issuer,
            audience=self.settings.issuer,
            any_audience=any_audience,
        )
        scope = frozenset(claims.get("scope", []))
        if isinstance(claims.get("username"), str):
            user = self.store.user(claims["username"])
            if user is None:
                raise InvalidToken("the token's user no longer exists")
            if claims["iat"] < user.created:
                # a deleted account's token must not open a new account of the same name
                raise InvalidToken("the token is older than its user's account")
            return Principal("user", claims["username"], scope, claims)
        if isinstance(claims.get("globalid"), str):
            if self.store.org(claims["globalid"]) is None:
                raise InvalidToken("the token's organisation no longer exists")
            return Principal("organization", claims["globalid"], scope, claims)
        raise InvalidToken("token names neither a user nor an organisation")

    def _user(self, username: str) -> UserRecord:
        return found(self.store.user(username), "user", username)

    def _org(self, globalid: str) -> OrgRecord:
        return found(self.store.org(globalid), "organization", globalid)

    def is_site_admin(self, caller: Principal | None) -> bool:
        if caller is None or not caller.full:
            return False
        user = self.store.user(caller.name)
        return user is not None and user.admin

    def _need_caller(self, caller: Principal | None) -> Principal:
        if caller is None:
            raise InvalidToken("this needs a bearer token (Authorization: bearer <JWT>)")
        return caller

    def require_self(self, caller: Principal | None, username: str, *, admin: bool) -> None:
        """The user themself (full token) or, when ``admin``, a site admin."""
        caller = self._need_caller(caller)
        if caller.full and caller.name == username:
            return
        if admin and self.is_site_admin(caller):
            return
        raise Forbidden(f"only {username} {'or an admin ' if admin else ''}may do this")

    def require_admin(self, caller: Principal | None) -> None:
        if not self.is_site_admin(self._need_caller(caller)):
            raise Forbidden("only a zero-id admin may do this")

    def role_of(self, caller: Principal, globalid: str) -> Role | None:
        """The caller's role in an organisation, sub-organisations included."""
        if caller.kind == "organization":
            if caller.name == globalid or globalid.startswith(caller.name + "."):
                return caller.org_role
            return None
        if not caller.full:
            return None
        user = self.store.user(caller.name)
        return role_in(user.organizations, globalid) if user else None

    def require_org(self, caller: Principal | None, globalid: str, need: Role) -> OrgRecord:
        """An owner (``need="owner"``) or any member of the organisation, or a site admin."""
        caller = self._need_caller(caller)
        role = self.role_of(caller, globalid)
        allowed = role == "owner" or (need == "member" and role == "member")
        if not allowed and not self.is_site_admin(caller):
            raise Forbidden(f"only {need}s of '{globalid}' may do this")
        return self._org(globalid)


def found(record: _R | None, kind: str, name: str) -> _R:
    if record is None:
        raise NotFound(f"{kind} '{name}' not found")
    return record


def fits_a_key(text: str) -> bool:
    """Whether ``text`` may be part of a zero-db key: counted in bytes (a key holds 255), so a
    long non-ASCII name is an unknown name (401, throttled), not a zero-db error."""
    return 0 < len(text.encode()) <= 200


def keeps_an_owner(org: OrgRecord, username: str) -> None:
    """Refuse a change that takes ``username`` out of a root organisation's owners when no other
    owner would be left (leaving, removal, deletion, or becoming a member)."""
    if parent(org.globalid) is None and not [o for o in org.owners if o != username]:
        if username in org.owners:
            raise Conflict(f"{username} is the last owner of '{org.globalid}'")
        if username in org.members:
            # an organisation left without owner by an older zero-id: its last member stays
            raise Conflict(f"'{org.globalid}' has no owner: {username} stays until it has one")


def drop_member(org: OrgRecord, username: str) -> None:
    if username in org.owners:
        org.owners.remove(username)
    if username in org.members:
        org.members.remove(username)


def key_view(key: ApiKeyRecord) -> ApiKeyView:
    return ApiKeyView(label=key.label, client_id=key.owner, role=key.role, created=key.created)


__all__ = [
    "FULL",
    "MAX_SCOPES",
    "MEMBEROF",
    "Access",
    "Principal",
    "Settings",
    "audiences",
    "drop_member",
    "fits_a_key",
    "found",
    "keeps_an_owner",
    "key_view",
    "now",
    "org_view",
    "split_list",
    "user_view",
]
