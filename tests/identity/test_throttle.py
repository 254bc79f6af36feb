"""Failed logins are throttled per user and per address."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from zeroos.identity.errors import InvalidClient, Throttled
from zeroos.identity.passwords import HashCost
from zeroos.identity.throttle import Limits

from .conftest import Actor


def test_failed_logins_are_throttled(start_id):
    running = start_id(limits=Limits(per_user=3, per_address=5, window=60))
    with running.http() as http:
        alice, bob = Actor(http, "thralice"), Actor(http, "thrbob")
        wrong = {"grant_type": "password", "username": "thralice", "password": "wrongpass1"}
        right = {**wrong, "password": alice.password}
        for _ in range(3):
            assert http.post("/v1/oauth/access_token", data=wrong).status_code == 401
        r = http.post("/v1/oauth/access_token", data=right)
        assert r.status_code == 429  # even the right password waits now
        assert int(r.headers["retry-after"]) >= 1
        # another user from the same address is fine until the address limit
        bob_ok = {"grant_type": "password", "username": "thrbob", "password": bob.password}
        assert http.post("/v1/oauth/access_token", data=bob_ok).status_code == 200
        bad_bob = {**bob_ok, "password": "wrongpass1"}
        assert http.post("/v1/oauth/access_token", data=bad_bob).status_code == 401
        assert http.post("/v1/oauth/access_token", data=bad_bob).status_code == 401
        assert http.post("/v1/oauth/access_token", data=bob_ok).status_code == 429
        # API-key secrets count too
        cc = {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "a.b"}
        assert http.post("/v1/oauth/access_token", data=cc).status_code == 429
        metrics = http.get("/metrics").text.splitlines()
        assert "zeroid_logins_failed_total 5.0" in metrics
        assert "zeroid_logins_throttled_total 3.0" in metrics


def test_a_forged_forwarded_for_does_not_pick_the_throttled_address(start_id):
    """X-Forwarded-For is believed from nobody by default (a local client could forge it)."""
    running = start_id(limits=Limits(per_user=100, per_address=3, window=60))
    with running.http() as http:
        Actor(http, "fwdcarol")
        wrong = {"grant_type": "password", "username": "fwdcarol", "password": "wrongpass1"}
        for i in range(3):
            forged = {"X-Forwarded-For": f"10.0.0.{i}"}
            r = http.post("/v1/oauth/access_token", data=wrong, headers=forged)
            assert r.status_code == 401
        forged = {"X-Forwarded-For": "10.9.9.9"}
        r = http.post("/v1/oauth/access_token", data=wrong, headers=forged)
        assert r.status_code == 429  # still counted under the real address


def test_parallel_wrong_passwords_check_at_most_the_limit(start_id):
    """60 wrong passwords at once: 5 are checked (argon2), 55 refused before any hashing."""
    slow = HashCost(time_cost=2, memory_kib=32768, parallelism=1)  # each check takes a while
    running = start_id(limits=Limits(per_user=5, per_address=1000, window=60), hash_cost=slow)
    with running.http() as http:
        Actor(http, "parcarol")
    wrong = {"grant_type": "password", "username": "parcarol", "password": "wrongpass1"}

    async def storm() -> list[int]:
        async with httpx.AsyncClient(base_url=running.url, timeout=120) as client:
            calls = [client.post("/v1/oauth/access_token", data=wrong) for _ in range(60)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    codes = asyncio.run(storm())
    assert sorted(set(codes)) == [401, 429], codes
    assert codes.count(401) == 5, codes
    assert running.identity.metrics()["logins_failed"] == 5
    assert running.identity.metrics()["logins_throttled"] == 55


def test_a_login_that_cannot_be_checked_is_not_counted_as_failed(start_id):
    """zero-db down is not the user's fault: the reserved attempt is taken back."""
    running = start_id(limits=Limits(per_user=2, per_address=100, window=60))
    throttle = running.identity.throttle
    with pytest.raises(RuntimeError), throttle.attempt("nodb", "10.0.0.1", InvalidClient):
        raise RuntimeError("zero-db down")
    for _ in range(2):
        with pytest.raises(InvalidClient), throttle.attempt("nodb", "10.0.0.1", InvalidClient):
            raise InvalidClient("wrong")
    with pytest.raises(Throttled), throttle.attempt("nodb", "10.0.0.1", InvalidClient):
        pass
