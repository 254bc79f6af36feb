"""What Verifier, AsyncVerifier and zero-id itself refuse: a token past its expiry, one not yet
valid, and the high-s twin of a valid signature (ES384 is malleable: (r, n - s) verifies too)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from zeroos.identity import AsyncVerifier, InvalidToken, Verifier
from zeroos.identity.tokens import make_claims

from .conftest import P384_ORDER, Actor, Running, signature, with_s


def _high_s_twin(token: str) -> str:
    """The same claims and r with s replaced by n - s: a valid ECDSA signature, high-s."""
    return with_s(token, P384_ORDER - signature(token)[1])


def _both(running: Running, token: str) -> list[Callable[[], Any]]:
    """verify(token) by the thread-safe and the asyncio verifier, as calls to make."""

    def sync() -> Any:
        with Verifier(running.url) as verifier:
            return verifier.verify(token)

    def aio() -> Any:
        async def run() -> Any:
            async with AsyncVerifier(running.url) as verifier:
                return await verifier.verify(token)

        return asyncio.run(run())

    return [sync, aio]


def _signed(running: Running, name: str, **times: int) -> str:
    claims = make_claims(
        issuer=running.identity.settings.issuer,
        subject=("username", name),
        scope=["user:name"],
        azp=name,
        validity=3600,
    )
    claims.update(times)
    return running.identity.ring.sign(claims)


def test_every_token_is_signed_low_s_and_its_high_s_twin_is_refused(ident, http):
    user = Actor(http, "lowsuser")
    for _ in range(24):  # a high s comes half the time without the fix
        token = user.call("GET", "/v1/oauth/jwt", params={"scope": "user:name"}).text
        assert signature(token)[1] <= P384_ORDER // 2
    twin = _high_s_twin(user.token)
    assert user.call("GET", f"/api/users/{user.name}").status_code == 200
    r = http.get(f"/api/users/{user.name}", headers={"Authorization": f"bearer {twin}"})
    assert r.status_code == 401
    assert r.json()["error_description"] == "token signature is not in low-s form"
    for verify in _both(ident, user.token):
        assert verify()["username"] == user.name
    for verify in _both(ident, twin):
        with pytest.raises(InvalidToken, match=r"^token signature is not in low-s form$"):
            verify()


@pytest.mark.parametrize(
    ("times", "reason"),
    [
        ({"iat": -7200, "exp": -60}, "token expired"),  # beyond the verifiers' 5 s leeway
        ({"iat": 0, "nbf": 600}, "token not yet valid"),
        ({"iat": 600, "exp": 4200}, "token not yet valid"),
    ],
)
def test_verifiers_refuse_tokens_outside_their_lifetime(ident, http, times, reason):
    user = Actor(http, f"lifetime{abs(hash(reason + str(times))) % 10**6}")
    now = int(time.time())
    token = _signed(ident, user.name, **{k: now + v for k, v in times.items()})
    for verify in _both(ident, token):
        with pytest.raises(InvalidToken, match=f"^{reason}$"):
            verify()
    r = http.get(f"/api/users/{user.name}", headers={"Authorization": f"bearer {token}"})
    assert (r.status_code, r.json()["error_description"]) == (401, reason)
    fresh = _signed(ident, user.name)  # the same claims in their lifetime pass
    for verify in _both(ident, fresh):
        assert verify()["username"] == user.name
