"""Check zero-id bearer tokens in any part of the grid.

    from zeroos.identity.verify import Verifier

    verifier = Verifier("http://127.0.0.1:8080", audience="hub")
    claims = verifier.verify(token, scope="user:memberof:myorg")

The JWKS is fetched once and kept; a token signed by a key id not in it triggers one refetch
(at most every ``min_refresh`` seconds), so key rotation needs no restart. Every HTTP call has
a timeout. Failures raise :class:`InvalidToken` (answer 401) or :class:`MissingScope` (403).
:class:`AsyncVerifier` is the same for asyncio services (``await verifier.verify(token)``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from typing import Any

from jwt.algorithms import ECAlgorithm

from ..common.http import AsyncJsonClient, HttpApi, JsonClient
from .errors import Forbidden, InvalidToken
from .tokens import PublicKey, decode

_DISCOVERY = "/.well-known/openid-configuration"
_JWKS = "/.well-known/jwks.json"


def _refused(reason: str, status: int) -> InvalidToken:
    return InvalidToken(f"zero-id did not give its keys: {reason} (HTTP {status})")


# a token cannot be checked while zero-id's keys cannot be read: every failure is InvalidToken
_KEYS_API = HttpApi("zero-id", InvalidToken, refused=_refused)


class MissingScope(Forbidden):
    """The token is valid but lacks a scope the caller requires."""


def require_scope(claims: dict[str, Any], *scopes: str) -> None:
    """Raise MissingScope unless the claims' ``scope`` holds every one of ``scopes``."""
    held = set(claims.get("scope") or [])
    missing = [s for s in scopes if s not in held]
    if missing:
        raise MissingScope(f"token lacks scope {', '.join(missing)}")


class _Stale(Exception):
    """The token's key id is unknown and the keys may be fetched again: fetch, then retry."""


def bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: bearer <JWT>`` (or ``token <JWT>``) header value."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() not in ("bearer", "token") or not token.strip():
        raise InvalidToken("this needs Authorization: bearer <JWT>")
    return token.strip()


class _Keys:
    """What both verifiers share: the keys and issuer last fetched, and the checks."""

    def __init__(
        self,
        url: str,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        timeout: float = 5.0,
        leeway: float = 5.0,
        min_refresh: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.min_refresh = min_refresh
        self._keys: dict[str, PublicKey] = {}
        self._fetched = float("-inf")
        self._open(timeout)

    def _open(self, timeout: float) -> None:
        """Make the HTTP client and the lock around fetches."""
        raise NotImplementedError

    def _issuer(self, discovery: Any) -> str:
        issuer = discovery.get("issuer") if isinstance(discovery, dict) else None
        if not isinstance(issuer, str):
            raise InvalidToken(f"zero-id at {self.url} names no issuer in {_DISCOVERY}")
        return issuer

    def _install(self, jwks: Any) -> None:
        keys: dict[str, PublicKey] = {}
        for jwk in jwks.get("keys", []) if isinstance(jwks, dict) else []:
            if jwk.get("alg") != "ES384" or not isinstance(jwk.get("kid"), str):
                continue
            key = ECAlgorithm.from_jwk(jwk)
            if isinstance(key, PublicKey):
                keys[jwk["kid"]] = key
        self._keys = keys
        self._fetched = time.monotonic()

    def _key(self, kid: str) -> PublicKey | None:
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._fetched >= self.min_refresh:
            raise _Stale(kid)
        return key

    def _check(
        self, token: str, scope: str | Iterable[str] | None, *, may_fetch: bool = True
    ) -> dict[str, Any]:
        """The checked claims; raises _Stale when ``may_fetch`` and the keys should be fetched."""
        if self.issuer is None:
            raise _Stale("issuer") if may_fetch else InvalidToken("zero-id's issuer is unknown")
        keys = self._key if may_fetch else self._keys.get
        claims = decode(token, keys, issuer=self.issuer, audience=self.audience, leeway=self.leeway)
        if scope is not None:
            require_scope(claims, *([scope] if isinstance(scope, str) else scope))
        return claims


class Verifier(_Keys):
    """Verify zero-id JWTs against its published keys; thread-safe."""

    def _open(self, timeout: float) -> None:
        self._http = JsonClient(self.url, _KEYS_API, timeout=timeout)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self) -> None:
        """Fetch the JWKS (and the issuer, from the discovery document, when not given)."""
        with self._lock:
            if self.issuer is None:
                self.issuer = self._issuer(self._http.call("GET", _DISCOVERY))
            self._install(self._http.call("GET", _JWKS))

    def verify(self, token: str, *, scope: str | Iterable[str] | None = None) -> dict[str, Any]:
        """The token's claims, after checking signature, issuer, expiry, audience and scope."""
        try:
            return self._check(token, scope)
        except _Stale:
            self.refresh()
        return self._check(token, scope, may_fetch=False)

    def verify_header(
        self, authorization: str | None, *, scope: str | Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Like :meth:`verify`, from an ``Authorization: bearer <JWT>`` header value."""
        return self.verify(bearer(authorization), scope=scope)


class AsyncVerifier(_Keys):
    """:class:`Verifier` for asyncio: the same checks and caching, the keys fetched without
    blocking the event loop, one fetch at a time."""

    def _open(self, timeout: float) -> None:
        self._http = AsyncJsonClient(self.url, _KEYS_API, timeout=timeout)
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncVerifier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def refresh(self) -> None:
        """Fetch the JWKS (and the issuer, from the discovery document, when not given)."""
        async with self._lock:
            if self.issuer is None:
                self.issuer = self._issuer(await self._http.call("GET", _DISCOVERY))
            self._install(await self._http.call("GET", _JWKS))

    async def verify(
        self, token: str, *, scope: str | Iterable[str] | None = None
    ) -> dict[str, Any]:
        """The token's claims, after checking signature, issuer, expiry, audience and scope."""
        try:
            return self._check(token, scope)
        except _Stale:
            await self.refresh()
        return self._check(token, scope, may_fetch=False)

    async def verify_header(
        self, authorization: str | None, *, scope: str | Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Like :meth:`verify`, from an ``Authorization: bearer <JWT>`` header value."""
        return await self.verify(bearer(authorization), scope=scope)


__all__ = ["AsyncVerifier", "InvalidToken", "MissingScope", "Verifier", "bearer", "require_scope"]
