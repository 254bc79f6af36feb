"""OAuth as its users' libraries speak it: client authentication with HTTP Basic (RFC 6749
2.3.1), errors that name what is wrong, token introspection (RFC 7662)."""

from __future__ import annotations

import time

import httpx

from zeroos.identity.tokens import make_claims

from .conftest import Actor, Running

TOKEN = "/v1/oauth/access_token"
INTROSPECT = "/v1/oauth/introspect"


def _key(actor: Actor, label: str) -> str:
    r = actor.call("POST", f"/api/users/{actor.name}/apikeys", json={"label": label})
    assert r.status_code == 201, r.text
    return str(r.json()["secret"])


def test_client_authentication_with_http_basic(http, new_user):
    alice = new_user()
    secret = _key(alice, "basic")
    cc = {"grant_type": "client_credentials"}
    r = http.post(TOKEN, data=cc, auth=(alice.name, secret))  # httpx sends Authorization: Basic
    assert r.status_code == 200, r.text
    assert r.json()["info"] == {"username": alice.name}
    r = http.post(TOKEN, data=cc, auth=(alice.name, secret + "x"))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    assert r.headers["www-authenticate"] == 'Basic realm="zero-id"'  # RFC 6749 5.2
    r = http.post(TOKEN, data={**cc, "client_id": alice.name}, auth=(alice.name, secret))
    assert (r.status_code, r.json()["error_description"]) == (
        400,
        "client credentials both in Authorization: Basic and the request",
    )
    r = http.post(TOKEN, data=cc, headers={"Authorization": "Basic !!notbase64"})
    assert (r.status_code, r.json()["error_description"]) == (
        401,
        "Authorization: Basic must hold base64(client_id:secret)",
    )


def test_a_json_body_is_named_in_the_error(http):
    r = http.post(TOKEN, json={"grant_type": "password", "username": "a", "password": "b"})
    assert (r.status_code, r.json()["error_description"]) == (
        400,
        "grant_type is missing: the token endpoint reads a form body "
        "(application/x-www-form-urlencoded) or the query string, not JSON",
    )
    r = http.post(TOKEN, data={"grant_type": "authorization_code"})
    assert r.json()["error_description"] == (
        "grant_type must be client_credentials or password, not 'authorization_code'"
    )
    assert http.post(TOKEN, data={}).json()["error_description"] == (
        "grant_type is missing: client_credentials or password"
    )


def _introspect(http: httpx.Client, caller: Actor, token: str) -> httpx.Response:
    return http.post(INTROSPECT, data={"token": token}, headers=caller.auth)


def test_introspection_answers_what_zero_id_accepts_now(ident: Running, http, new_user):
    alice, bob = new_user(), new_user()
    jwt_for_hub = alice.call("GET", "/v1/oauth/jwt", params={"scope": "user:name", "aud": "hub"})
    r = _introspect(http, bob, jwt_for_hub.text)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["active"] is True
    assert answer["username"] == answer["sub"] == alice.name
    assert answer["scope"] == "user:name"
    assert answer["aud"] == "hub"
    assert answer["client_id"] == alice.name
    assert answer["token_type"] == "bearer"
    assert answer["iss"] == ident.url
    assert answer["exp"] - answer["iat"] == 86400
    # expired, forged, garbage: not active, and nothing more said
    now = int(time.time())
    expired = make_claims(
        issuer=ident.url, subject=("username", alice.name), scope=[], azp="x", validity=60
    )
    expired.update(iat=now - 7200, exp=now - 3600)
    head, _, sig = alice.token.rpartition(".")
    for dead in (ident.identity.ring.sign(expired), head + "." + sig[::-1], "garbage"):
        assert _introspect(http, bob, dead).json() == {"active": False}
    # an API key as HTTP Basic may introspect too
    secret = _key(bob, "introspect")
    r = http.post(INTROSPECT, data={"token": alice.token}, auth=(bob.name, secret))
    assert r.json()["scope"] == "user:admin"
    # a deleted user's tokens are no longer active
    assert alice.call("DELETE", f"/api/users/{alice.name}").status_code == 204
    assert _introspect(http, bob, jwt_for_hub.text).json() == {"active": False}
    # only authenticated callers; a missing token is named
    r = http.post(INTROSPECT, data={"token": bob.token})
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")
    r = http.post(INTROSPECT, data={}, headers=bob.auth)
    missing = (r.status_code, r.json()["error_description"])
    assert missing == (400, "the form field token is missing")
    discovery = http.get("/.well-known/openid-configuration").json()
    assert discovery["introspection_endpoint"] == ident.url + INTROSPECT
