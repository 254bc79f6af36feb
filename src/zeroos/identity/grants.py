"""zero-id's grants: password and client credentials, introspection, JWTs and refresh."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from .access import (
    FULL,
    MAX_SCOPES,
    MEMBEROF,
    Principal,
    audiences,
    fits_a_key,
    found,
    split_list,
)
from .apikeys import ApiKeys
from .errors import BadRequest, InvalidClient, InvalidToken
from .models import (
    GLOBALID_RE,
    AccessToken,
    ApiKeyRecord,
    UserRecord,
)
from .rules import role_in
from .tokens import make_claims


class Grants(ApiKeys):
    """zero-id's grants: password and client credentials, introspection, JWTs and refresh."""

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
            user = self.store.user(username) if fits_a_key(username) else None
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
            user = found(await self.store.auser(key.owner), "user", key.owner)
            claims = self._user_claims(user, client_id, scope, audience)
        else:
            found(await self.store.aorg(key.owner), "organization", key.owner)
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
            key = await self.store.aapikey(keyid) if dot and fits_a_key(keyid) else None
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
        if len(requested) > MAX_SCOPES:
            raise BadRequest(f"at most {MAX_SCOPES} scopes")
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


__all__ = ["Grants"]
