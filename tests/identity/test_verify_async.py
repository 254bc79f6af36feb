"""zeroos.identity.AsyncVerifier against a real zero-id: the same checks and key caching as the
thread-safe Verifier, awaited."""

from __future__ import annotations

import asyncio

import httpx
import jwt
import pytest

from zeroos.identity import AsyncVerifier, InvalidToken, MissingScope

from .conftest import Actor, Running, login


def _admin(running: Running, http: httpx.Client, name: str) -> Actor:
    running.identity.ensure_admin(name, "rootpassword")
    admin = Actor.__new__(Actor)
    admin.http, admin.name, admin.token = http, name, login(http, name, "rootpassword")
    return admin


def test_async_verifier_checks_and_learns_rotated_keys(start_id):
    running = start_id()
    with running.http() as http:
        admin = _admin(running, http, "asyroot")
        user = Actor(http, "asyuser")
        old = user.call("GET", "/v1/oauth/jwt", params={"scope": "user:name", "aud": "hub"}).text
        other = user.call("GET", "/v1/oauth/jwt", params={"aud": "other"}).text

        async def before_rotation() -> None:
            async with AsyncVerifier(running.url, audience="hub") as verifier:
                assert (await verifier.verify(old, scope="user:name"))["username"] == "asyuser"
                with pytest.raises(MissingScope):
                    await verifier.verify(old, scope="user:admin")
                with pytest.raises(InvalidToken):
                    await verifier.verify(other)
                with pytest.raises(InvalidToken):
                    await verifier.verify_header("Basic abc")
                many = await asyncio.gather(*(verifier.verify(old) for _ in range(20)))
                assert {c["username"] for c in many} == {"asyuser"}

        asyncio.run(before_rotation())
        new_kid = admin.call("POST", "/api/admin/keys/rotate").json()["kid"]
        new = user.call("GET", "/v1/oauth/jwt", params={"aud": "hub"}).text
        assert jwt.get_unverified_header(new)["kid"] == new_kid

        async def after_rotation() -> None:
            async with AsyncVerifier(running.url, audience="hub", min_refresh=3600) as slow:
                await slow.verify(old)  # keys fetched now: the new one is not among them...
            async with AsyncVerifier(running.url, audience="hub", min_refresh=0) as fresh:
                await fresh.verify(old)
                # ...while a verifier free to refetch learns the new key on its own
                assert (await fresh.verify(new))["username"] == "asyuser"
                assert (await fresh.verify_header(f"bearer {old}"))["username"] == "asyuser"

        asyncio.run(after_rotation())


def test_async_verifier_refetches_at_most_every_min_refresh(start_id):
    running = start_id()
    with running.http() as http:
        admin = _admin(running, http, "asyroot2")
        before = admin.call("GET", "/v1/oauth/jwt").text

        async def check() -> None:
            async with AsyncVerifier(running.url, min_refresh=3600) as verifier:
                await verifier.verify(before)
                admin.call("POST", "/api/admin/keys/rotate")
                after = admin.call("GET", "/v1/oauth/jwt").text
                # the key is unknown and the last fetch is recent: refused, no new fetch
                with pytest.raises(InvalidToken, match="unknown key"):
                    await verifier.verify(after)
                await verifier.refresh()
                assert (await verifier.verify(after))["username"] == "asyroot2"

        asyncio.run(check())
