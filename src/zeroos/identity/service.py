"""What zero-id does, apart from HTTP: users, organisations, invitations, API keys, grants.

Every operation takes the caller (a :class:`Principal`, or None for anonymous) and checks what
the caller may do before touching anything; the rules are written next to each operation and
collected in docs/identity.md. Authorisation always reads the current records, so a role lost
a moment ago no longer opens anything, whatever a token still says.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

from .errors import BadRequest, Conflict, Forbidden, InvalidClient, InvalidToken, NotFound
from .models import (
    GLOBALID_RE,
    AccessToken,
    ApiKeyCreated,
    ApiKeyRecord,
    ApiKeyView,
    Invitation,
    OrgRecord,
    OrgTree,
    OrgView,
    Role,
    UserInfo,
    UserOrganizations,
    UserRecord,
    UserView,
)
from .passwords import HashCost, Hasher
from .rules import ancestors, parent, role_in
from .sealed import Sealer
from .store import Store
from .throttle import Limits, Throttle
from .tokens import DEFAULT_TTL, MAX_VALIDITY, KeyRing, decode, make_claims

FULL: Final = "user:admin"  # ItsYou.Online's scope for full control of one's own account
MEMBEROF: Final = "user:memberof:"
_MAX_SCOPES: Final = 50
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


def _now() -> int:
    return int(time.time())


def _view(user: UserRecord) -> UserView:
    return UserView(
        username=user.username,
        emailaddresses=[{"label": k, "emailaddress": v} for k, v in user.emails.items()],
        publicKeys=[{"label": k, "publickey": v} for k, v in user.publickeys.items()],
        admin=user.admin,
        organizations=user.organizations,
        invitations=user.invitations,
        created=user.created,
    )


def _org_view(org: OrgRecord) -> OrgView:
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


class Identity:
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
        return _found(self.store.user(username), "user", username)

    def _org(self, globalid: str) -> OrgRecord:
        return _found(self.store.org(globalid), "organization", globalid)

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

    # -- users ----------------------------------------------------------------------------
    def register(
        self, caller: Principal | None, username: str, password: str, email: str | None
    ) -> UserView:
        """Anyone while registration is open; otherwise a site admin."""
        if not self.settings.registration:
            self.require_admin(caller)
        user = UserRecord(
            username=username, password_hash=self.hasher.hash(password), created=_now()
        )
        if email:
            user.emails["main"] = email
        with self.store.lock:
            if self.store.user(username) is not None:
                raise Conflict(f"username '{username}' is taken")
            self.store.put_user(user)
        return _view(user)

    def ensure_admin(self, username: str, password: str) -> None:
        """Create (or promote) a site admin: used at start-up, never over HTTP."""
        with self.store.lock:
            user = self.store.user(username)
            if user is None:
                user = UserRecord(
                    username=username, password_hash=self.hasher.hash(password), created=_now()
                )
            user.admin = True
            self.store.put_user(user)

    def get_user(self, caller: Principal | None, username: str) -> UserView:
        self.require_self(caller, username, admin=True)
        return _view(self._user(username))

    def user_info(self, caller: Principal | None, username: str) -> UserInfo:
        self.require_self(caller, username, admin=True)
        view = _view(self._user(username))
        return UserInfo(
            username=view.username,
            emailaddresses=view.emailaddresses,
            publicKeys=view.publicKeys,
        )

    def change_password(
        self, caller: Principal | None, username: str, current: str, new: str, address: str
    ) -> None:
        self.require_self(caller, username, admin=False)
        with self.throttle.attempt(username, address, Forbidden):
            user = self._user(username)
            if not self.hasher.verify(user.password_hash, current):
                raise Forbidden("current password is wrong")
        with self.store.lock:
            user = self._user(username)
            user.password_hash = self.hasher.hash(new)
            self.store.put_user(user)

    def set_attribute(
        self,
        caller: Principal | None,
        username: str,
        kind: Literal["emails", "publickeys"],
        label: str,
        value: str | None,
    ) -> UserView:
        """Add (value) or remove (None) an e-mail address or public key: the user themself."""
        self.require_self(caller, username, admin=False)
        with self.store.lock:
            user = self._user(username)
            attrs: dict[str, str] = getattr(user, kind)
            if value is None:
                if attrs.pop(label, None) is None:
                    raise NotFound(f"no {kind[:-1]} labelled '{label}'")
            else:
                if label in attrs:
                    raise Conflict(f"label '{label}' is taken")
                attrs[label] = value
            self.store.put_user(user)
        return _view(user)

    def delete_user(self, caller: Principal | None, username: str) -> None:
        """The user themself or a site admin: the account goes with its API keys, roles and
        invitations; refused while it is the last owner of a root organisation."""
        self.require_self(caller, username, admin=True)
        with self.store.lock:
            user = self._user(username)
            orgs = {g: self.store.org(g) for g in {*user.organizations, *user.invitations}}
            for org in orgs.values():
                if org is not None and username in (*org.owners, *org.members):
                    _keeps_an_owner(org, username)
            for org in orgs.values():
                if org is not None:
                    _drop(org, username)
                    org.invitations.pop(username, None)
                    self.store.put_org(org)
            for keyid in user.apikeys.values():
                self.store.delete_apikey(keyid)
            self.store.delete_user(username)

    def set_admin(self, caller: Principal | None, username: str, admin: bool) -> UserView:
        self.require_admin(caller)
        with self.store.lock:
            user = self._user(username)
            user.admin = admin
            self.store.put_user(user)
        return _view(user)

    def user_organizations(self, caller: Principal | None, username: str) -> UserOrganizations:
        self.require_self(caller, username, admin=True)
        user = self._user(username)
        roles = user.organizations
        return UserOrganizations(
            owner=sorted(g for g, r in roles.items() if r == "owner"),
            member=sorted(g for g, r in roles.items() if r == "member"),
        )

    def notifications(self, caller: Principal | None, username: str) -> list[Invitation]:
        self.require_self(caller, username, admin=False)
        user = self._user(username)
        return [
            Invitation(organization=g, user=username, role=r) for g, r in user.invitations.items()
        ]

    def answer_invitation(
        self, caller: Principal | None, username: str, globalid: str, role: Role, accept: bool
    ) -> Invitation:
        """Accept or refuse an invitation: only the invitee."""
        self.require_self(caller, username, admin=False)
        with self.store.lock:
            user = self._user(username)
            if user.invitations.get(globalid) != role:
                raise NotFound(f"no invitation to '{globalid}' as {role}")
            org = self.store.org(globalid)
            if accept and org is not None and role == "member":
                _keeps_an_owner(org, username)
            del user.invitations[globalid]
            if org is not None:
                org.invitations.pop(username, None)
                if accept:
                    _drop(org, username)
                    (org.owners if role == "owner" else org.members).append(username)
                    user.organizations[globalid] = role
                self.store.put_org(org)
            self.store.put_user(user)
            if org is None:
                raise NotFound(f"organization '{globalid}' not found")
        return Invitation(organization=globalid, user=username, role=role)

    def leave(self, caller: Principal | None, username: str, globalid: str) -> None:
        """Leave an organisation: the user themself."""
        self.require_self(caller, username, admin=False)
        self.remove_member(None, globalid, username, checked=True)

    # -- organisations --------------------------------------------------------------------
    def create_org(
        self, caller: Principal | None, globalid: str, parent_id: str | None = None
    ) -> OrgView:
        """A root organisation: any user (full token). A sub-organisation: owners of the parent."""
        caller = self._need_caller(caller)
        if not GLOBALID_RE.match(globalid):
            raise BadRequest(f"'{globalid}' is not a valid organization id")
        above = parent(globalid)
        if above != parent_id:
            where = f"POST /api/organizations/{above}" if above else "POST /api/organizations"
            raise BadRequest(f"'{globalid}' must be created with {where}")
        if above is None:
            if not caller.full:
                raise Forbidden("only a user may create an organization")
        else:
            self.require_org(caller, above, "owner")
        with self.store.lock:
            if self.store.org(globalid) is not None:
                raise Conflict(f"organization '{globalid}' exists")
            org = OrgRecord(globalid=globalid, created=_now())
            if caller.kind == "user":
                org.owners.append(caller.name)
            if above is not None:
                up = self._org(above)
                up.children.append(globalid)
                self.store.put_org(up)
            self.store.put_org(org)
            if caller.kind == "user":
                user = self._user(caller.name)
                user.organizations[globalid] = "owner"
                self.store.put_user(user)
        return _org_view(org)

    def get_org(self, caller: Principal | None, globalid: str) -> OrgView:
        """Members and owners (sub-organisations included), the organisation's keys, admins."""
        return _org_view(self.require_org(caller, globalid, "member"))

    def tree(self, caller: Principal | None, globalid: str) -> OrgTree:
        self.require_org(caller, globalid, "member")
        return self._tree(globalid, 0)

    def _tree(self, globalid: str, depth: int) -> OrgTree:
        org = self._org(globalid)
        kids = [self._tree(c, depth + 1) for c in org.children] if depth < 10 else []
        return OrgTree(globalid=globalid, children=kids)

    def delete_org(self, caller: Principal | None, globalid: str) -> None:
        """Owners (of it or above) and admins; its sub-organisations go with it."""
        org = self.require_org(caller, globalid, "owner")
        with self.store.lock:
            for child in list(org.children):
                self.delete_org(None if caller is None else caller, child)
            org = self._org(globalid)
            for name in {*org.owners, *org.members, *org.invitations}:
                user = self.store.user(name)
                if user is not None:
                    user.organizations.pop(globalid, None)
                    user.invitations.pop(globalid, None)
                    self.store.put_user(user)
            for keyid in org.apikeys.values():
                self.store.delete_apikey(keyid)
            above = parent(globalid)
            if above is not None:
                up = self.store.org(above)
                if up is not None and globalid in up.children:
                    up.children.remove(globalid)
                    self.store.put_org(up)
            self.store.delete_org(globalid)

    def invite(
        self, caller: Principal | None, globalid: str, username: str, role: Role
    ) -> Invitation:
        """Owners invite; the invitee accepts (POST .../users/{u}/organizations/{g}/roles/{r})."""
        self.require_org(caller, globalid, "owner")
        with self.store.lock:
            org = self._org(globalid)
            user = self._user(username)
            if user.organizations.get(globalid) == role:
                raise Conflict(f"{username} already is {role} of '{globalid}'")
            if role == "member":
                _keeps_an_owner(org, username)
            org.invitations[username] = role
            user.invitations[globalid] = role
            self.store.put_org(org)
            self.store.put_user(user)
        return Invitation(organization=globalid, user=username, role=role)

    def invitations(self, caller: Principal | None, globalid: str) -> list[Invitation]:
        org = self.require_org(caller, globalid, "owner")
        return [
            Invitation(organization=globalid, user=u, role=r) for u, r in org.invitations.items()
        ]

    def cancel_invitation(self, caller: Principal | None, globalid: str, username: str) -> None:
        self.require_org(caller, globalid, "owner")
        with self.store.lock:
            org = self._org(globalid)
            if org.invitations.pop(username, None) is None:
                raise NotFound(f"no pending invitation for {username}")
            self.store.put_org(org)
            user = self.store.user(username)
            if user is not None and user.invitations.pop(globalid, None) is not None:
                self.store.put_user(user)

    def remove_member(
        self,
        caller: Principal | None,
        globalid: str,
        username: str,
        role: Role | None = None,
        *,
        checked: bool = False,
    ) -> None:
        """Owners remove members and owners; the last owner of a root organisation stays."""
        if not checked:
            self.require_org(caller, globalid, "owner")
        with self.store.lock:
            org = self._org(globalid)
            current: Role | None = None
            if username in org.owners:
                current = "owner"
            elif username in org.members:
                current = "member"
            if current is None or (role is not None and current != role):
                raise NotFound(f"{username} is not {role or 'in'} '{globalid}'")
            if current == "owner":
                _keeps_an_owner(org, username)
            _drop(org, username)
            self.store.put_org(org)
            user = self.store.user(username)
            if user is not None and user.organizations.pop(globalid, None) is not None:
                self.store.put_user(user)

    def is_member(self, caller: Principal | None, globalid: str, username: str) -> bool:
        """Members of the organisation, the user asked about, admins."""
        caller = self._need_caller(caller)
        if not (caller.full and caller.name == username):
            self.require_org(caller, globalid, "member")
        else:
            self._org(globalid)
        user = self.store.user(username)
        return user is not None and role_in(user.organizations, globalid) is not None

    # -- API keys -------------------------------------------------------------------------
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
            created=_now(),
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
                out.append(_key_view(key))
        return out

    def get_apikey(self, owner_kind: str, owner: str, label: str) -> ApiKeyView:
        keyid = self._keys_of(owner_kind, owner).get(label)
        key = self.store.apikey(keyid) if keyid else None
        if key is None:
            raise NotFound(f"no API key labelled '{label}'")
        return _key_view(key)

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

    # -- grants ---------------------------------------------------------------------------
    def password_grant(
        self,
        username: str,
        password: str,
        client_id: str | None,
        scope: str | None,
        address: str,
        *,
        audience: list[str] | None = None,
    ) -> AccessToken:
        """Anyone: a user's name and password give a token with full control (user:admin),
        or with the asked ``scope`` (and ``audience``: a JWT for another service)."""
        with self.throttle.attempt(username, address, InvalidClient):
            user = self.store.user(username) if _short(username) else None
            stored = user.password_hash if user else None
            if not self.hasher.verify(stored, password) or user is None:
                raise InvalidClient("wrong username or password")
        claims = self._user_claims(user, client_id or username, scope, audience)
        return self._answer(claims, self.ring.sign(claims))

    async def client_credentials(
        self,
        client_id: str,
        secret: str,
        scope: str | None,
        address: str,
        *,
        audience: list[str] | None = None,
        exact_scope: bool = False,
    ) -> AccessToken:
        """Anyone: a user's or an organisation's API key (client_id = username or globalid).
        An organisation's key gets its role's scope when none asked for holds, unless
        ``exact_scope`` (a JWT for another service carries only what was asked).

        Runs on the event loop: the records come from the store's memory and the secret from
        the hasher's; zero-db and argon2 run in a worker thread, only the first time.
        """
        key = await self.check_client(client_id, secret, address)
        if key.kind == "user":
            user = _found(await self.store.auser(key.owner), "user", key.owner)
            claims = self._user_claims(user, client_id, scope, audience)
        else:
            _found(await self.store.aorg(key.owner), "organization", key.owner)
            role = f"organization:{key.role}"
            granted = self.grant_scopes(None, [role], split_list(scope), org=True)
            if not granted and not exact_scope:
                granted = [role]
            claims = self._claims(("globalid", key.owner), client_id, granted, audience)
        return self._answer(claims, await self.ring.asign(claims))

    async def check_client(self, client_id: str, secret: str, address: str) -> ApiKeyRecord:
        """The API key ``secret`` of ``client_id`` (a username or globalid); InvalidClient when
        it is not one, counted by the throttle."""
        with self.throttle.attempt(client_id, address, InvalidClient):
            keyid, dot, _ = secret.partition(".")
            key = await self.store.aapikey(keyid) if dot and _short(keyid) else None
            ok = key is not None and key.owner == client_id
            if key is None or not ok or not await self._secret_ok(keyid, key.secret_hash, secret):
                raise InvalidClient("wrong client_id or client_secret")
        return key

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662's answer about ``token``: what it says when zero-id would accept it now (for
        any audience; its user or organisation still there), else only ``active: false``."""
        try:
            who = self.authenticate(token, any_audience=True)
        except InvalidToken:
            return {"active": False}
        claims = who.claims
        out: dict[str, Any] = {
            "active": True,
            "token_type": "bearer",
            "scope": " ".join(claims.get("scope", [])),
            "client_id": claims.get("azp", who.name),
            "sub": who.name,
            "iss": claims["iss"],
            "iat": claims["iat"],
            "exp": claims["exp"],
            "username" if who.kind == "user" else "globalid": who.name,
        }
        if "aud" in claims:
            out["aud"] = claims["aud"]
        return out

    async def _secret_ok(self, keyid: str, stored: str, secret: str) -> bool:
        if self.hasher.known(keyid, stored, secret):
            return True
        return await asyncio.to_thread(self.hasher.verify_cached, keyid, stored, secret)

    def _user_claims(
        self, user: UserRecord, azp: str, scope: str | None, audience: list[str] | None
    ) -> dict[str, Any]:
        requested = split_list(scope)
        granted = self.grant_scopes(user, [FULL], requested) if requested else [FULL]
        return self._claims(("username", user.username), azp, granted, audience)

    def _claims(
        self, subject: tuple[str, str], azp: str, scope: list[str], audience: list[str] | None
    ) -> dict[str, Any]:
        ttl = self.settings.token_ttl
        return make_claims(
            issuer=self.settings.issuer,
            subject=subject,
            scope=scope,
            azp=azp,
            validity=ttl,
            audience=audience,
        )

    def _answer(self, claims: dict[str, Any], token: str) -> AccessToken:
        self.counters["tokens_issued"] += 1
        who = "username" if "username" in claims else "globalid"
        return AccessToken(
            access_token=token,
            token_type="bearer",  # noqa: S106 - the OAuth token type, not a secret
            scope=",".join(claims["scope"]),
            expires_in=self.settings.token_ttl,
            info={who: claims[who]},
        )

    def grant_scopes(
        self,
        user: UserRecord | None,
        held: Iterable[str],
        requested: list[str],
        *,
        org: bool = False,
    ) -> list[str]:
        """The requested scopes that are true now and within what the holder's token allows.

        ``user:admin`` in ``held`` allows any user scope; otherwise only those held.
        ``user:memberof:<g>`` is granted only when the user is in ``g`` now (sub-organisations
        count). Anything else asked for is left out.
        """
        if len(requested) > _MAX_SCOPES:
            raise BadRequest(f"at most {_MAX_SCOPES} scopes")
        held = set(held)
        out: list[str] = []
        for s in requested:
            if org:
                if (
                    s == "organization:member"
                    and held
                    & {
                        "organization:owner",
                        "organization:member",
                    }
                ) or (s in held and s.startswith("organization:")):
                    out.append(s)
                continue
            if user is None or not (FULL in held or s in held):
                continue
            if s in (FULL, "user:name"):
                out.append(s)
            elif s.startswith(MEMBEROF):
                g = s[len(MEMBEROF) :]
                if GLOBALID_RE.match(g) and role_in(user.organizations, g) is not None:
                    out.append(s)
        return list(dict.fromkeys(out))

    def jwt(
        self,
        caller: Principal | None,
        scope: str | None,
        audience: str | None,
        validity: int | None,
    ) -> str:
        """A bearer token of ours turned into a JWT with the asked scopes, audience, validity."""
        caller = self._need_caller(caller)
        requested = split_list(scope)
        granted = self._regrant(caller, requested or list(caller.claims.get("scope", [])))
        return self._jwt(caller, granted, audiences(audience), validity or self.settings.token_ttl)

    def refresh(self, caller: Principal | None) -> str:
        """The same JWT, renewed: same audience and lifetime, scopes that are still true."""
        caller = self._need_caller(caller)
        claims = caller.claims
        granted = self._regrant(caller, list(claims.get("scope", [])))
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else list(aud or [])
        lifetime = int(claims["exp"]) - int(claims["iat"])
        return self._jwt(caller, granted, auds, lifetime)

    def _regrant(self, caller: Principal, requested: list[str]) -> list[str]:
        if caller.kind == "organization":
            return self.grant_scopes(None, caller.scope, requested, org=True)
        return self.grant_scopes(self._user(caller.name), caller.scope, requested)

    def _jwt(self, caller: Principal, scope: list[str], aud: list[str], validity: int) -> str:
        if not 1 <= validity <= self.settings.max_validity:
            raise BadRequest(f"validity must be 1..{self.settings.max_validity} seconds")
        subject = ("username" if caller.kind == "user" else "globalid", caller.name)
        claims = make_claims(
            issuer=self.settings.issuer,
            subject=subject,
            scope=scope,
            azp=str(caller.claims.get("azp", caller.name)),
            validity=validity,
            audience=aud or None,
        )
        self.counters["tokens_issued"] += 1
        return self.ring.sign(claims)


def _found(record: _R | None, kind: str, name: str) -> _R:
    if record is None:
        raise NotFound(f"{kind} '{name}' not found")
    return record


def _short(text: str) -> bool:
    """Whether ``text`` may be part of a zero-db key: counted in bytes (a key holds 255), so a
    long non-ASCII name is an unknown name (401, throttled), not a zero-db error."""
    return 0 < len(text.encode()) <= 200


def _keeps_an_owner(org: OrgRecord, username: str) -> None:
    """Refuse a change that takes ``username`` out of a root organisation's owners when no other
    owner would be left (leaving, removal, deletion, or becoming a member)."""
    if parent(org.globalid) is None and not [o for o in org.owners if o != username]:
        if username in org.owners:
            raise Conflict(f"{username} is the last owner of '{org.globalid}'")
        if username in org.members:
            # an organisation left without owner by an older zero-id: its last member stays
            raise Conflict(f"'{org.globalid}' has no owner: {username} stays until it has one")


def _drop(org: OrgRecord, username: str) -> None:
    if username in org.owners:
        org.owners.remove(username)
    if username in org.members:
        org.members.remove(username)


def _key_view(key: ApiKeyRecord) -> ApiKeyView:
    return ApiKeyView(label=key.label, client_id=key.owner, role=key.role, created=key.created)


__all__ = ["FULL", "Identity", "Principal", "Settings", "ancestors", "audiences", "split_list"]
