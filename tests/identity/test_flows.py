"""Every route and grant over real HTTP, data in a real zero-db."""

from __future__ import annotations

import time

import jwt
import pytest

from zeroos.identity import InvalidToken, MissingScope, Verifier
from zeroos.identity.throttle import Limits

from .conftest import Actor, login


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def past_second(stamp: int) -> None:
    """Returns once the clock is past second ``stamp`` (tokens and accounts carry whole
    seconds): the condition itself, polled, not a guessed delay."""
    while time.time() < stamp + 1:
        time.sleep(0.02)


def test_register_and_user_routes(http, new_user):
    alice = new_user()
    r = http.post("/api/users", json={"username": alice.name, "password": "another123"})
    assert r.status_code == 409
    r = alice.call("GET", f"/api/users/{alice.name}")
    assert r.status_code == 200
    body = r.json()
    assert body["username"] == alice.name
    assert "password" not in r.text
    assert "hash" not in r.text
    r = alice.call(
        "POST",
        f"/api/users/{alice.name}/emailaddresses",
        json={"label": "work", "emailaddress": "a@example.org"},
    )
    assert r.status_code == 201
    r = alice.call(
        "POST",
        f"/api/users/{alice.name}/publickeys",
        json={"label": "laptop", "publickey": "ssh-ed25519 AAAAC3Nza"},
    )
    assert r.status_code == 201
    info = alice.call("GET", f"/api/users/{alice.name}/info").json()
    assert info["emailaddresses"] == [{"label": "work", "emailaddress": "a@example.org"}]
    assert info["publicKeys"][0]["label"] == "laptop"
    assert alice.call("DELETE", f"/api/users/{alice.name}/emailaddresses/work").status_code == 204
    assert alice.call("DELETE", f"/api/users/{alice.name}/publickeys/laptop").status_code == 204
    assert alice.call("DELETE", f"/api/users/{alice.name}/publickeys/laptop").status_code == 404
    r = alice.call(
        "PUT",
        f"/api/users/{alice.name}/password",
        json={"currentpassword": "wrongpassword", "newpassword": "newpassword1"},
    )
    assert r.status_code == 403
    r = alice.call(
        "PUT",
        f"/api/users/{alice.name}/password",
        json={"currentpassword": alice.password, "newpassword": "newpassword1"},
    )
    assert r.status_code == 204
    login(http, alice.name, "newpassword1")
    bad = {"grant_type": "password", "username": alice.name, "password": alice.password}
    assert http.post("/v1/oauth/access_token", data=bad).status_code == 401


def test_organizations_invitations_and_sub_organizations(http, new_user, org_name):
    owner, bob, carol = new_user(), new_user(), new_user()
    g = org_name()
    assert owner.call("POST", "/api/organizations", json={"globalid": g}).status_code == 201
    assert owner.call("POST", "/api/organizations", json={"globalid": g}).status_code == 409
    sub = f"{g}.team"
    # a sub-organisation is created under its parent's route only
    assert owner.call("POST", "/api/organizations", json={"globalid": sub}).status_code == 400
    assert owner.call("POST", f"/api/organizations/{g}", json={"globalid": sub}).status_code == 201
    assert (
        owner.call("POST", f"/api/organizations/{g}", json={"globalid": f"{sub}.xy"}).status_code
        == 400
    )
    tree = owner.call("GET", f"/api/organizations/{g}/tree").json()
    assert tree == {"globalid": g, "children": [{"globalid": sub, "children": []}]}

    # invite bob into the sub-organisation; nothing changes until he accepts
    r = owner.call("POST", f"/api/organizations/{sub}/members", json={"searchstring": bob.name})
    assert r.status_code == 201
    assert owner.call("GET", f"/api/organizations/{sub}/invitations").json()[0]["user"] == bob.name
    ismember = f"/api/organizations/{g}/users/ismember/{bob.name}"
    assert owner.call("GET", ismember).json() == {"IsMember": False}
    notes = bob.call("GET", f"/api/users/{bob.name}/notifications").json()
    assert notes == [{"organization": sub, "user": bob.name, "role": "member"}]
    assert (
        bob.call("POST", f"/api/users/{bob.name}/organizations/{sub}/roles/owner").status_code
        == 404
    )
    assert (
        bob.call("POST", f"/api/users/{bob.name}/organizations/{sub}/roles/member").status_code
        == 201
    )
    # a member of the sub-organisation is a member of the parent
    assert owner.call("GET", ismember).json() == {"IsMember": True}
    assert bob.call("GET", ismember).json() == {"IsMember": True}
    assert bob.call("GET", f"/api/organizations/{g}").status_code == 200
    assert bob.call("GET", f"/api/users/{bob.name}/organizations").json() == {
        "owner": [],
        "member": [sub],
    }
    # members cannot manage
    r = bob.call("POST", f"/api/organizations/{sub}/members", json={"searchstring": carol.name})
    assert r.status_code == 403

    # carol is invited, the invitation is cancelled; then invited and she refuses
    owner.call("POST", f"/api/organizations/{g}/owners", json={"searchstring": carol.name})
    assert (
        owner.call("DELETE", f"/api/organizations/{g}/invitations/{carol.name}").status_code == 204
    )
    assert carol.call("GET", f"/api/users/{carol.name}/notifications").json() == []
    owner.call("POST", f"/api/organizations/{g}/owners", json={"searchstring": carol.name})
    assert (
        carol.call("DELETE", f"/api/users/{carol.name}/organizations/{g}/roles/owner").status_code
        == 204
    )
    owner.call("POST", f"/api/organizations/{g}/owners", json={"searchstring": carol.name})
    carol.call("POST", f"/api/users/{carol.name}/organizations/{g}/roles/owner")
    # an owner of the parent owns the sub-organisation too
    assert carol.call("GET", f"/api/organizations/{sub}/invitations").status_code == 200
    assert owner.call("DELETE", f"/api/organizations/{g}/owners/{carol.name}").status_code == 204
    assert owner.call("DELETE", f"/api/organizations/{g}/owners/{owner.name}").status_code == 409

    # bob leaves; removing a non-member is 404
    assert bob.call("DELETE", f"/api/users/{bob.name}/organizations/{sub}/leave").status_code == 204
    assert owner.call("GET", ismember).json() == {"IsMember": False}
    assert owner.call("DELETE", f"/api/organizations/{sub}/members/{bob.name}").status_code == 404
    owner.call("POST", f"/api/organizations/{sub}/members", json={"searchstring": bob.name})
    bob.call("POST", f"/api/users/{bob.name}/organizations/{sub}/roles/member")
    assert owner.call("DELETE", f"/api/organizations/{sub}/members/{bob.name}").status_code == 204

    # deleting the parent deletes the sub-organisation and the memberships
    assert owner.call("DELETE", f"/api/organizations/{g}").status_code == 204
    assert owner.call("GET", f"/api/organizations/{sub}").status_code in (403, 404)
    assert owner.call("GET", f"/api/users/{owner.name}/organizations").json() == {
        "owner": [],
        "member": [],
    }


def test_api_keys_and_client_credentials(http, new_user, org_name):
    alice = new_user()
    r = alice.call("POST", f"/api/users/{alice.name}/apikeys", json={"label": "ci"})
    assert r.status_code == 201
    secret = r.json()["secret"]
    assert (
        alice.call("POST", f"/api/users/{alice.name}/apikeys", json={"label": "ci"}).status_code
        == 409
    )
    listed = alice.call("GET", f"/api/users/{alice.name}/apikeys")
    assert secret not in listed.text
    assert listed.json()[0]["label"] == "ci"
    one = alice.call("GET", f"/api/users/{alice.name}/apikeys/ci")
    assert one.status_code == 200
    assert secret not in one.text
    grant = {"grant_type": "client_credentials", "client_id": alice.name, "client_secret": secret}
    r = http.post("/v1/oauth/access_token", data=grant)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "bearer"
    assert r.json()["info"] == {"username": alice.name}
    assert claims(r.json()["access_token"])["scope"] == ["user:admin"]
    # query-string parameters work too (ItsYou.Online style)
    assert http.post("/v1/oauth/access_token", params=grant).status_code == 200
    assert (
        http.post("/v1/oauth/access_token", data={**grant, "client_id": "someoneelse"}).status_code
        == 401
    )
    assert alice.call("DELETE", f"/api/users/{alice.name}/apikeys/ci").status_code == 204
    assert http.post("/v1/oauth/access_token", data=grant).status_code == 401

    g = org_name()
    alice.call("POST", "/api/organizations", json={"globalid": g})
    r = alice.call(
        "POST", f"/api/organizations/{g}/apikeys", json={"label": "robot", "role": "member"}
    )
    assert r.status_code == 201
    org_secret = r.json()["secret"]
    assert alice.call("GET", f"/api/organizations/{g}/apikeys").json()[0]["role"] == "member"
    assert alice.call("GET", f"/api/organizations/{g}/apikeys/robot").status_code == 200
    grant = {"grant_type": "client_credentials", "client_id": g, "client_secret": org_secret}
    r = http.post("/v1/oauth/access_token", data=grant)
    assert r.status_code == 200
    tok = claims(r.json()["access_token"])
    assert tok["globalid"] == g
    assert tok["scope"] == ["organization:member"]
    org_auth = {"Authorization": f"bearer {r.json()['access_token']}"}
    # an organisation's member key reads it but does not manage it
    assert http.get(f"/api/organizations/{g}", headers=org_auth).status_code == 200
    assert http.get(f"/api/organizations/{g}/apikeys", headers=org_auth).status_code == 403
    assert alice.call("DELETE", f"/api/organizations/{g}/apikeys/robot").status_code == 204
    assert http.post("/v1/oauth/access_token", data=grant).status_code == 401
    assert http.post("/v1/oauth/access_token", data={"grant_type": "implicit"}).status_code == 400
    assert http.post("/v1/oauth/access_token", data={"grant_type": "password"}).status_code == 400


def test_jwt_scopes_sub_organizations_and_refresh(http, new_user, org_name):
    owner, bob = new_user(), new_user()
    g = org_name()
    owner.call("POST", "/api/organizations", json={"globalid": g})
    owner.call("POST", f"/api/organizations/{g}", json={"globalid": f"{g}.sub"})
    owner.call("POST", f"/api/organizations/{g}.sub/members", json={"searchstring": bob.name})
    bob.call("POST", f"/api/users/{bob.name}/organizations/{g}.sub/roles/member")

    asked = f"user:memberof:{g},user:memberof:{g}.sub,user:memberof:nope,user:name,user:admin"
    r = bob.call("GET", "/v1/oauth/jwt", params={"scope": asked, "aud": "hub", "validity": 600})
    assert r.status_code == 200
    c = claims(r.text)
    assert c["scope"] == [f"user:memberof:{g}", f"user:memberof:{g}.sub", "user:name", "user:admin"]
    assert c["aud"] == "hub"
    assert c["username"] == bob.name
    assert c["azp"] == bob.name
    assert c["iss"] == http.base_url.scheme + "://" + http.base_url.netloc.decode()
    assert c["exp"] - c["iat"] == 600
    assert jwt.get_unverified_header(r.text)["alg"] == "ES384"
    # POST works the same; a JWT with an audience is not accepted by zero-id's own API
    limited = bob.call("POST", "/v1/oauth/jwt", params={"scope": "user:name"}).text
    assert claims(limited)["scope"] == ["user:name"]
    assert (
        http.get("/v1/oauth/jwt", headers={"Authorization": f"bearer {r.text}"}).status_code == 401
    )
    # a token without user:admin can only narrow its scopes
    narrow = http.get(
        "/v1/oauth/jwt",
        params={"scope": f"user:name,user:memberof:{g}"},
        headers={"Authorization": f"bearer {limited}"},
    )
    assert claims(narrow.text)["scope"] == ["user:name"]
    # refresh keeps the audience and lifetime
    past_second(c["iat"])  # a refresh in the same second would carry the same exp
    again = http.get("/v1/oauth/jwt/refresh", headers={"Authorization": f"bearer {r.text}"})
    assert again.status_code == 200
    c2 = claims(again.text)
    assert c2["aud"] == "hub"
    assert c2["exp"] > c["exp"]
    assert c2["scope"] == c["scope"]
    # leaving the organisation drops memberof from new tokens (and from refreshes)
    bob.call("DELETE", f"/api/users/{bob.name}/organizations/{g}.sub/leave")
    c3 = claims(
        http.post("/v1/oauth/jwt/refresh", headers={"Authorization": f"bearer {again.text}"}).text
    )
    assert c3["scope"] == ["user:name", "user:admin"]
    r = bob.call("GET", "/v1/oauth/jwt", params={"scope": asked})
    assert claims(r.text)["scope"] == ["user:name", "user:admin"]
    # the owner of the parent is a member of the sub-organisation
    r = owner.call("GET", "/v1/oauth/jwt", params={"scope": f"user:memberof:{g}.sub"})
    assert claims(r.text)["scope"] == [f"user:memberof:{g}.sub"]
    assert bob.call("GET", "/v1/oauth/jwt", params={"validity": 10**9}).status_code == 422


def test_discovery_jwks_and_verify_library(ident, http, new_user):
    conf = http.get("/.well-known/openid-configuration").json()
    assert conf["issuer"] == ident.url
    assert conf["jwks_uri"] == ident.url + "/.well-known/jwks.json"
    keys = http.get("/.well-known/jwks.json").json()["keys"]
    assert keys
    assert all(k["alg"] == "ES384" and k["crv"] == "P-384" and "d" not in k for k in keys)
    alice = new_user()
    token = alice.call("GET", "/v1/oauth/jwt", params={"scope": "user:name", "aud": "hub"}).text
    with Verifier(ident.url, audience="hub") as verifier:
        assert verifier.verify(token, scope="user:name")["username"] == alice.name
        with pytest.raises(MissingScope):
            verifier.verify(token, scope="user:admin")
        with pytest.raises(InvalidToken):
            verifier.verify(alice.call("GET", "/v1/oauth/jwt", params={"aud": "other"}).text)
        claims_ = verifier.verify_header(f"Bearer {alice.token}", scope=["user:admin"])
        assert claims_["username"] == alice.name
    assert "zeroid_tokens_issued_total" in http.get("/metrics").text


def test_key_rotation_keeps_live_tokens(start_id):
    from .conftest import Actor

    running = start_id()
    running.identity.ensure_admin("root", "rootpassword")
    with running.http() as http:
        admin = Actor.__new__(Actor)
        admin.http, admin.name, admin.token = http, "root", login(http, "root", "rootpassword")
        user = Actor(http, "rotator")
        old = user.call("GET", "/v1/oauth/jwt", params={"aud": "hub"}).text
        old_kid = jwt.get_unverified_header(old)["kid"]
        with Verifier(running.url, audience="hub", min_refresh=0) as verifier:
            verifier.verify(old)
            assert user.call("POST", "/api/admin/keys/rotate").status_code == 403
            r = admin.call("POST", "/api/admin/keys/rotate")
            assert r.status_code == 200
            new_kid = r.json()["kid"]
            assert new_kid != old_kid
            assert old_kid in r.json()["keys"]
            kids = [k["kid"] for k in http.get("/.well-known/jwks.json").json()["keys"]]
            assert kids == [new_kid, old_kid]
            new = user.call("GET", "/v1/oauth/jwt", params={"aud": "hub"}).text
            assert jwt.get_unverified_header(new)["kid"] == new_kid
            # the verifier learns the new key on its own; the old token stays valid
            assert verifier.verify(new)["username"] == "rotator"
            assert verifier.verify(old)["username"] == "rotator"
            # the user's access token from before the rotation still works on the API
            assert user.call("GET", "/api/users/rotator").status_code == 200


def test_restart_keeps_data_and_keys(start_id):
    from .conftest import Actor

    first = start_id()
    with first.http() as http:
        user = Actor(http, "keeper")
        user.call("POST", "/api/organizations", json={"globalid": "keepers"})
        token = user.token
    first.server.stop()
    second = start_id(first.namespace, issuer=first.url)
    with second.http() as http:
        headers = {"Authorization": f"bearer {token}"}
        assert http.get("/api/organizations/keepers", headers=headers).json()["owners"] == [
            "keeper"
        ]
        login(http, "keeper", "password123")


def test_delete_user(http, new_user, org_name):
    owner, bob, admin_target = new_user(), new_user(), new_user()
    g = org_name()
    owner.call("POST", "/api/organizations", json={"globalid": g})
    owner.call("POST", f"/api/organizations/{g}/members", json={"searchstring": bob.name})
    bob.call("POST", f"/api/users/{bob.name}/organizations/{g}/roles/member")
    r = bob.call("POST", f"/api/users/{bob.name}/apikeys", json={"label": "ci"})
    grant = {
        "grant_type": "client_credentials",
        "client_id": bob.name,
        "client_secret": r.json()["secret"],
    }
    assert http.post("/v1/oauth/access_token", data=grant).status_code == 200
    # the last owner of an organisation stays until it has another owner or is gone
    assert owner.call("DELETE", f"/api/users/{owner.name}").status_code == 409
    assert bob.call("DELETE", f"/api/users/{bob.name}").status_code == 204
    assert bob.call("GET", f"/api/users/{bob.name}").status_code == 401
    assert http.post("/v1/oauth/access_token", data=grant).status_code == 401
    assert bob.name not in owner.call("GET", f"/api/organizations/{g}").json()["members"]
    # the name is free again, and the old account's token does not open the new one
    old_token = bob.token
    past_second(claims(old_token)["iat"])  # the new account is younger than the old token
    again = Actor(http, bob.name)
    assert again.call("GET", f"/api/users/{bob.name}").status_code == 200
    headers = {"Authorization": f"bearer {old_token}"}
    assert http.get(f"/api/users/{bob.name}", headers=headers).status_code == 401
    assert owner.call("DELETE", f"/api/organizations/{g}").status_code == 204
    assert owner.call("DELETE", f"/api/users/{owner.name}").status_code == 204
    assert http.delete(f"/api/users/{admin_target.name}").status_code == 401


def test_an_owner_cannot_demote_himself_out_of_the_last_ownership(ident, http, new_user, org_name):
    """Inviting oneself as member and accepting would leave the organisation without owner."""
    owner, other = new_user(), new_user()
    g = org_name()
    assert owner.call("POST", "/api/organizations", json={"globalid": g}).status_code == 201
    r = owner.call("POST", f"/api/organizations/{g}/members", json={"searchstring": owner.name})
    assert (r.status_code, r.json()["error_description"]) == (
        409,
        f"{owner.name} is the last owner of '{g}'",
    )
    # an invitation made while another owner was there cannot be accepted once he is gone
    owner.call("POST", f"/api/organizations/{g}/owners", json={"searchstring": other.name})
    other.call("POST", f"/api/users/{other.name}/organizations/{g}/roles/owner")
    r = owner.call("POST", f"/api/organizations/{g}/members", json={"searchstring": owner.name})
    assert r.status_code == 201
    assert owner.call("DELETE", f"/api/organizations/{g}/owners/{other.name}").status_code == 204
    r = owner.call("POST", f"/api/users/{owner.name}/organizations/{g}/roles/member")
    assert r.status_code == 409
    assert owner.call("GET", f"/api/organizations/{g}").json()["owners"] == [owner.name]
    # so deleting him is refused, and the organisation keeps its owner
    assert owner.call("DELETE", f"/api/users/{owner.name}").status_code == 409
    # an organisation an older zero-id left without owner keeps its last member
    store = ident.identity.store
    with store.lock:
        org = store.org(g)
        org.owners, org.members = [], [owner.name]
        store.put_org(org)
    r = owner.call("DELETE", f"/api/users/{owner.name}")
    assert (r.status_code, r.json()["error_description"]) == (
        409,
        f"'{g}' has no owner: {owner.name} stays until it has one",
    )


@pytest.mark.parametrize("field", ["username", "client_id"])
def test_long_non_ascii_names_are_unknown_and_throttled_not_a_storage_error(start_id, field):
    running = start_id(limits=Limits(per_user=2, per_address=100, window=60))
    name = "é" * 150  # 150 characters, 300 bytes: longer than a zero-db key
    grant = (
        {"grant_type": "password", "username": name, "password": "wrongpass1"}
        if field == "username"
        else {"grant_type": "client_credentials", "client_id": "x", "client_secret": name + ".s"}
    )
    with running.http() as http:
        for _ in range(2):
            r = http.post("/v1/oauth/access_token", data=grant)
            assert r.status_code == 401, r.text
        assert http.post("/v1/oauth/access_token", data=grant).status_code == 429
