"""The token endpoint's fast path: same limits and answers as the rest of the API, records
cached in memory yet never older than the last write, tokens signed off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import jwt
import pytest

from zeroos.identity import Verifier
from zeroos.identity.oauth import MAX_BODY
from zeroos.identity.server import EmbeddedZdb
from zeroos.identity.store import Store
from zeroos.identity.tokens import SigningKey, make_claims

from .conftest import Actor

TOKEN = "/v1/oauth/access_token"


def _scope(token: str) -> list[str]:
    return list(jwt.decode(token, options={"verify_signature": False})["scope"])


def _key(actor: Actor, path: str, label: str, **extra: str) -> str:
    r = actor.call("POST", f"{path}/apikeys", json={"label": label, **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["secret"])


def test_api_key_grants_follow_every_change_at_once(http, new_user, org_name):
    owner, bob = new_user(), new_user()
    g = org_name()
    assert owner.call("POST", "/api/organizations", json={"globalid": g}).status_code == 201
    owner.call("POST", f"/api/organizations/{g}/members", json={"searchstring": bob.name})
    bob.call("POST", f"/api/users/{bob.name}/organizations/{g}/roles/member")
    secret = _key(bob, f"/api/users/{bob.name}", "ci")
    grant = {
        "grant_type": "client_credentials",
        "client_id": bob.name,
        "client_secret": secret,
        "scope": f"user:memberof:{g},user:name",
    }
    r = http.post(TOKEN, data=grant)
    assert r.status_code == 200, r.text
    assert _scope(r.json()["access_token"]) == [f"user:memberof:{g}", "user:name"]
    # removed from the organisation: the very next grant no longer says so
    assert owner.call("DELETE", f"/api/organizations/{g}/members/{bob.name}").status_code == 204
    assert _scope(http.post(TOKEN, data=grant).json()["access_token"]) == ["user:name"]

    org_secret = _key(owner, f"/api/organizations/{g}", "robot", role="owner")
    org_grant = {"grant_type": "client_credentials", "client_id": g, "client_secret": org_secret}
    r = http.post(TOKEN, data=org_grant)
    assert _scope(r.json()["access_token"]) == ["organization:owner"]
    # a deleted organisation's keys stop working with it
    assert owner.call("DELETE", f"/api/organizations/{g}").status_code == 204
    assert http.post(TOKEN, data=org_grant).status_code == 401
    # and a deleted key at once, while the key it replaced under the same label is unknown
    assert bob.call("DELETE", f"/api/users/{bob.name}/apikeys/ci").status_code == 204
    new_secret = _key(bob, f"/api/users/{bob.name}", "ci")
    assert http.post(TOKEN, data=grant).status_code == 401
    assert http.post(TOKEN, data={**grant, "client_secret": new_secret}).status_code == 200


def test_token_endpoint_checks_its_input_like_the_api(http, new_user):
    alice = new_user()
    r = http.post(TOKEN, params={"grant_type": "password", "client_secret": "s" * 201})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {"loc": "query.client_secret", "msg": "String should have at most 200 characters"}
    ]
    assert "sss" not in r.text
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    form = "&".join(f"f{i}=x" for i in range(30))
    assert http.post(TOKEN, content=form, headers=form_type).status_code == 400

    # a chunked body (no content-length) is cut off at the same size as any other
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY // 1024 + 2):
            yield b"x" * 1024

    r = http.post(TOKEN, content=chunks(), headers=form_type)
    assert r.status_code == 413
    assert r.json()["error_description"] == f"request body over {MAX_BODY} bytes"
    # a JSON body is not read: the grant type is missing then
    r = http.post(TOKEN, json={"grant_type": "password"})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    assert http.get(TOKEN).status_code == 405
    # query parameters win over the body's
    wrong = {"grant_type": "password", "username": alice.name, "password": "wrongpass1"}
    right = {"password": alice.password}
    assert http.post(TOKEN, data=wrong, params=right).status_code == 200
    r = http.post(TOKEN, data={**wrong, "password": alice.password}, params={"password": "x"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_concurrent_grants_are_all_signed_and_counted(ident, http, new_user):
    alice = new_user()
    secret = _key(alice, f"/api/users/{alice.name}", "par")
    grant = {"grant_type": "client_credentials", "client_id": alice.name, "client_secret": secret}
    before = ident.identity.counters["tokens_issued"]

    async def many() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=ident.url, timeout=30) as client:
            return await asyncio.gather(*(client.post(TOKEN, data=grant) for _ in range(40)))

    answers = asyncio.run(many())
    assert [r.status_code for r in answers] == [200] * 40
    keys = {k["kid"]: k for k in http.get("/.well-known/jwks.json").json()["keys"]}
    tokens = {r.json()["access_token"] for r in answers}
    for token in tokens:
        public = jwt.PyJWK(keys[jwt.get_unverified_header(token)["kid"]]).key
        assert jwt.decode(token, public, algorithms=["ES384"])["username"] == alice.name
    assert ident.identity.counters["tokens_issued"] - before >= 40


def test_signing_key_makes_the_tokens_pyjwt_makes():
    key = SigningKey.generate()
    claims = make_claims(
        issuer="http://x", subject=("username", "ann"), scope=["user:admin"], azp="ann", validity=60
    )
    ours = key.sign(claims)
    theirs = jwt.encode(claims, key.private, algorithm="ES384", headers={"kid": key.kid})
    assert ours.split(".")[:2] == theirs.split(".")[:2]
    assert jwt.decode(ours, key.public, algorithms=["ES384"]) == claims
    other = SigningKey.generate()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(ours, other.public, algorithms=["ES384"])


def test_store_never_caches_a_value_older_than_a_write(zdb: EmbeddedZdb):
    store = Store(zdb.client("cacherace"))
    try:
        store.put_keyring(b"unused")  # the namespace exists and answers
        store._set("u:race", b'{"v": 1}')
        store._remember("u:race", None)  # forget it, as after eviction
        real_get = store.client.get

        def get_then_write(key: str | bytes) -> bytes | None:
            old = real_get(key)  # the read is answered first...
            store._set("u:race", b'{"v": 2}')  # ...and a write lands before it is cached
            return old

        store.client.get = get_then_write  # type: ignore[method-assign]
        assert store._get("u:race") == b'{"v": 1}'
        store.client.get = real_get  # type: ignore[method-assign]
        assert store._get("u:race") == b'{"v": 2}'
        assert store.cached("u:race") == b'{"v": 2}'
        store._delete("u:race")
        assert store.cached("u:race") is None
        assert store._get("u:race") is None
    finally:
        store.close()


def test_response_type_id_token_answers_a_jwt_for_another_service(ident, http, new_user, org_name):
    alice = new_user()
    secret = _key(alice, f"/api/users/{alice.name}", "idt")
    grant = {"grant_type": "client_credentials", "client_id": alice.name, "client_secret": secret}
    wanted = {"response_type": "id_token", "scope": "user:name,user:admin", "aud": "hub"}
    r = http.post(TOKEN, params={**grant, **wanted})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    with Verifier(ident.url, audience="hub") as hub:
        claims = hub.verify(r.text, scope="user:name")
    assert claims["aud"] == "hub"
    assert claims["scope"] == ["user:name", "user:admin"]
    # meant for the hub: zero-id's own API refuses it
    assert (
        http.get(
            f"/api/users/{alice.name}", headers={"Authorization": f"bearer {r.text}"}
        ).status_code
        == 401
    )
    pw = {"grant_type": "password", "username": alice.name, "password": alice.password}
    r = http.post(TOKEN, data={**pw, "response_type": "id_token", "scope": "user:name"})
    assert r.status_code == 200
    assert _scope(r.text) == ["user:name"]
    # a scope must be asked for; aud only comes with id_token; no other response types
    for bad in (
        {"response_type": "id_token"},
        {"aud": "hub"},
        {"response_type": "code", "scope": "user:name"},
        {"response_type": "id_token", "scope": "user:name", "aud": ",".join("a" * 11)},
    ):
        r = http.post(TOKEN, data={**grant, **bad})
        assert r.status_code == 400, (bad, r.text)
    # an organisation's key gets exactly the scopes that hold, not its role by default
    g = org_name()
    alice.call("POST", "/api/organizations", json={"globalid": g})
    org_secret = _key(alice, f"/api/organizations/{g}", "idt", role="member")
    org = {"grant_type": "client_credentials", "client_id": g, "client_secret": org_secret}
    r = http.post(TOKEN, data={**org, "response_type": "id_token", "scope": "organization:owner"})
    assert r.status_code == 200
    assert _scope(r.text) == []
    r = http.post(TOKEN, data={**org, "response_type": "id_token", "scope": "organization:member"})
    assert _scope(r.text) == ["organization:member"]
