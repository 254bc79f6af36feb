"""Check zero-id bearer tokens in any part of the grid.

    from zeroos.identity.verify import Verifier

    verifier = Verifier("http://127.0.0.1:8080", audience="hub")
    claims = verifier.verify(token, scope="user:memberof:myorg")

The JWKS is fetched once and kept; a token signed by a key id not in it triggers one refetch
(at most every ``min_refresh`` seconds), so key rotation needs no restart. Every HTTP call has
a timeout. Failures raise :class:`InvalidToken` (answer 401) or :class:`MissingScope` (403).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import httpx
from jwt.algorithms import ECAlgorithm

from .errors import Forbidden, InvalidToken
from .tokens import PublicKey, decode


class MissingScope(Forbidden):
    """The token is valid but lacks a scope the caller requires."""


def require_scope(claims: dict[str, Any], *scopes: str) -> None:
    """Raise MissingScope unless the claims' ``scope`` holds every one of ``scopes``."""
    held = set(claims.get("scope") or [])
    missing = [s for s in scopes if s not in held]
    if missing:
        raise MissingScope(f"token lacks scope {', '.join(missing)}")


class Verifier:
    """Verify zero-id JWTs against its published keys; thread-safe."""

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
        self._http = httpx.Client(timeout=timeout)
        self._keys: dict[str, PublicKey] = {}
        self._fetched = float("-inf")
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str) -> Any:
        try:
            response = self._http.get(self.url + path)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise InvalidToken(f"cannot read zero-id's keys at {self.url}{path}: {exc}") from exc

    def refresh(self) -> None:
        """Fetch the JWKS (and the issuer, from the discovery document, when not given)."""
        with self._lock:
            if self.issuer is None:
                self.issuer = str(self._get("/.well-known/openid-configuration")["issuer"])
            keys: dict[str, PublicKey] = {}
            for jwk in self._get("/.well-known/jwks.json").get("keys", []):
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
            self.refresh()
            key = self._keys.get(kid)
        return key

    def verify(self, token: str, *, scope: str | Iterable[str] | None = None) -> dict[str, Any]:
        """The token's claims, after checking signature, issuer, expiry, audience and scope."""
        if self.issuer is None:
            self.refresh()
        assert self.issuer is not None
        claims = decode(
            token, self._key, issuer=self.issuer, audience=self.audience, leeway=self.leeway
        )
        if scope is not None:
            require_scope(claims, *([scope] if isinstance(scope, str) else scope))
        return claims

    def verify_header(
        self, authorization: str | None, *, scope: str | Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Like :meth:`verify`, from an ``Authorization: bearer <JWT>`` header value."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token.strip():
            raise InvalidToken("this needs Authorization: bearer <JWT>")
        return self.verify(token.strip(), scope=scope)


__all__ = ["InvalidToken", "MissingScope", "Verifier", "require_scope"]
