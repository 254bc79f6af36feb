"""Failed logins are throttled per user and per address."""

from __future__ import annotations

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
        assert "zeroid_logins_failed_total 5" in http.get("/metrics").text


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
