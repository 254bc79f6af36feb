"""Forged and stale tokens, who may call each route, secrets kept out of answers and logs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .conftest import Actor, login, low_s


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def victim(new_user):
    return new_user()


def _claims(ident, name: str, **over):
    now = int(time.time())
    base = {
        "iss": ident.url,
        "iat": now,
        "exp": now + 600,
        "username": name,
        "scope": ["user:admin"],
    }
    base.update(over)
    return base


def _sign(ident, claims, key=None, kid=None):
    ring = ident.identity.ring
    token = jwt.encode(
        claims,
        key or ring.active.private,
        algorithm="ES384",
        headers={"kid": kid or ring.active.kid},
    )
    return low_s(token)  # refused for the reason each case names, not for a high s


def test_forged_tokens_are_refused(ident, http, victim):
    url = f"/api/users/{victim.name}"
    ok = _sign(ident, _claims(ident, victim.name))
    assert http.get(url, headers={"Authorization": f"bearer {ok}"}).status_code == 200

    kid = ident.identity.ring.active.kid
    none_token = (
        b64(json.dumps({"alg": "none", "kid": kid}).encode())
        + "."
        + b64(json.dumps(_claims(ident, victim.name)).encode())
        + "."
    )
    pem = ident.identity.ring.active.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = b64(json.dumps({"alg": "HS384", "kid": kid, "typ": "JWT"}).encode())
    body = b64(json.dumps(_claims(ident, victim.name)).encode())
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha384).digest()
    hs_token = f"{head}.{body}.{b64(mac)}"
    h, _, s = ok.split(".")
    tampered = f"{h}.{b64(json.dumps(_claims(ident, 'root')).encode())}.{s}"
    other_key = ec.generate_private_key(ec.SECP384R1())
    forged = {
        "alg none": none_token,
        "HS384 keyed with the public key": hs_token,
        "tampered payload": tampered,
        "another issuer": _sign(ident, _claims(ident, victim.name, iss="http://evil")),
        "expired": _sign(ident, _claims(ident, victim.name, exp=int(time.time()) - 5)),
        "unknown key id": _sign(ident, _claims(ident, victim.name), kid="nope"),
        "foreign key, known kid": _sign(ident, _claims(ident, victim.name), key=other_key),
        "no exp": _sign(
            ident, {k: v for k, v in _claims(ident, victim.name).items() if k != "exp"}
        ),
        "for another audience": _sign(ident, _claims(ident, victim.name, aud="hub")),
        "scope not a list": _sign(ident, _claims(ident, victim.name, scope="user:admin")),
        "unknown user": _sign(ident, _claims(ident, "ghost")),
        "garbage": "abc.def.ghi",
    }
    for what, token in forged.items():
        r = http.get(url, headers={"Authorization": f"bearer {token}"})
        assert r.status_code == 401, what
        assert r.headers["www-authenticate"] == "Bearer"
        if what != "for another audience":  # refresh renews JWTs of any audience
            r = http.get("/v1/oauth/jwt/refresh", headers={"Authorization": f"bearer {token}"})
            assert r.status_code == 401, what
    assert http.get(url, headers={"Authorization": "Basic abc"}).status_code == 401
    assert http.get("/v1/oauth/jwt/refresh").status_code == 401


ROLES = ("anonymous", "other", "member", "owner", "admin")


@pytest.fixture
def world(ident, http, new_user, org_name):
    ident.identity.ensure_admin("siteadmin", "siteadmin123")
    admin = Actor.__new__(Actor)
    admin.http, admin.name = http, "siteadmin"
    admin.token = login(http, "siteadmin", "siteadmin123")
    owner, member, other = new_user(), new_user(), new_user()
    g = org_name()
    owner.call("POST", "/api/organizations", json={"globalid": g})
    owner.call("POST", f"/api/organizations/{g}", json={"globalid": f"{g}.sub"})
    owner.call("POST", f"/api/organizations/{g}/members", json={"searchstring": member.name})
    member.call("POST", f"/api/users/{member.name}/organizations/{g}/roles/member")
    owner.call("POST", f"/api/organizations/{g}/apikeys", json={"label": "k1"})
    member.call("POST", f"/api/users/{member.name}/apikeys", json={"label": "k1"})
    member.call(
        "POST",
        f"/api/users/{member.name}/emailaddresses",
        json={"label": "e1", "emailaddress": "m@x.org"},
    )
    return {"admin": admin, "owner": owner, "member": member, "other": other, "g": g}


def _routes(w):
    """(method, path, body, roles allowed). The member is the user of /api/users/{u} routes."""
    u, g, o = w["member"].name, w["g"], w["other"].name
    self_ = {"member"}
    self_admin = {"member", "admin"}
    owners = {"owner", "admin"}
    members = {"member", "owner", "admin"}
    pw = {"currentpassword": "password123", "newpassword": "password123"}
    return [
        ("GET", f"/api/users/{u}", None, self_admin),
        ("GET", f"/api/users/{u}/info", None, self_admin),
        ("DELETE", f"/api/users/{u}", None, self_admin),
        ("PUT", f"/api/users/{u}/password", pw, self_),
        ("POST", f"/api/users/{u}/emailaddresses", {"label": "e2", "emailaddress": "a@b.c"}, self_),
        ("DELETE", f"/api/users/{u}/emailaddresses/e1", None, self_),
        (
            "POST",
            f"/api/users/{u}/publickeys",
            {"label": "pk", "publickey": "ssh-ed25519 AAAAAAAAAAAA"},
            self_,
        ),
        ("DELETE", f"/api/users/{u}/publickeys/pk", None, self_),
        ("PUT", f"/api/users/{u}/admin", {"admin": True}, {"admin"}),
        ("GET", f"/api/users/{u}/organizations", None, self_admin),
        ("GET", f"/api/users/{u}/notifications", None, self_),
        ("POST", f"/api/users/{u}/organizations/{g}/roles/owner", None, self_),
        ("DELETE", f"/api/users/{u}/organizations/{g}/roles/owner", None, self_),
        ("DELETE", f"/api/users/{u}/organizations/{g}/leave", None, self_),
        ("GET", f"/api/users/{u}/apikeys", None, self_admin),
        ("POST", f"/api/users/{u}/apikeys", {"label": "k2"}, self_),
        ("GET", f"/api/users/{u}/apikeys/k1", None, self_admin),
        ("DELETE", f"/api/users/{u}/apikeys/k1", None, self_admin),
        (
            "POST",
            "/api/organizations",
            {"globalid": f"{g}x"},
            {"other", "member", "owner", "admin"},
        ),
        ("POST", f"/api/organizations/{g}", {"globalid": f"{g}.s2"}, owners),
        ("GET", f"/api/organizations/{g}", None, members),
        ("GET", f"/api/organizations/{g}/tree", None, members),
        ("DELETE", f"/api/organizations/{g}.sub", None, owners),
        ("POST", f"/api/organizations/{g}/members", {"searchstring": o}, owners),
        ("POST", f"/api/organizations/{g}/owners", {"searchstring": o}, owners),
        ("DELETE", f"/api/organizations/{g}/members/{u}", None, owners),
        ("DELETE", f"/api/organizations/{g}/owners/{w['owner'].name}", None, owners),
        ("GET", f"/api/organizations/{g}/invitations", None, owners),
        ("DELETE", f"/api/organizations/{g}/invitations/{o}", None, owners),
        ("GET", f"/api/organizations/{g}/users/ismember/{w['owner'].name}", None, members),
        ("GET", f"/api/organizations/{g}/apikeys", None, owners),
        ("POST", f"/api/organizations/{g}/apikeys", {"label": "k2"}, owners),
        ("GET", f"/api/organizations/{g}/apikeys/k1", None, owners),
        ("DELETE", f"/api/organizations/{g}/apikeys/k1", None, owners),
        ("POST", "/api/admin/keys/rotate", None, {"admin"}),
        ("GET", "/v1/oauth/jwt", None, {"other", "member", "owner", "admin"}),
        ("GET", "/v1/oauth/jwt/refresh", None, {"other", "member", "owner", "admin"}),
    ]


def test_who_may_call_each_route(http, world):
    """Every role outside a route's list is refused (401 anonymous, 403 otherwise)."""
    refused = []
    for method, path, body, allowed in _routes(world):
        for role in ROLES:
            if role in allowed:
                continue
            headers = {} if role == "anonymous" else world[role].auth
            r = http.request(method, path, json=body, headers=headers)
            want = 401 if role == "anonymous" else 403
            if r.status_code != want:
                refused.append((method, path, role, r.status_code, r.text))
    assert not refused


def test_allowed_roles_get_through(http, world):
    """Read routes answer each allowed role (writes are covered in test_flows)."""
    for method, path, _body, allowed in _routes(world):
        if method != "GET":
            continue
        for role in allowed:
            r = http.request(method, path, headers=world[role].auth)
            assert r.status_code == 200, (path, role, r.text)


def test_secrets_stay_out_of_answers_and_logs(ident, http, new_user, caplog):
    caplog.set_level(logging.DEBUG, logger="zeroos")
    alice = new_user()
    r = alice.call("POST", f"/api/users/{alice.name}/apikeys", json={"label": "sk"})
    secret = r.json()["secret"]
    grant = {"grant_type": "client_credentials", "client_id": alice.name, "client_secret": secret}
    http.post("/v1/oauth/access_token", params=grant)
    http.post("/v1/oauth/access_token", params={**grant, "client_secret": secret + "x"})
    http.post(
        "/v1/oauth/access_token",
        params={"grant_type": "password", "username": alice.name, "password": alice.password},
    )
    r = http.post("/api/users", json={"username": "Bad Name", "password": "p" * 500})
    assert r.status_code == 422
    assert "ppppp" not in r.text
    for path in (f"/api/users/{alice.name}", f"/api/users/{alice.name}/apikeys"):
        text = alice.call("GET", path).text
        assert secret not in text
        assert "argon2" not in text
    assert "request" in caplog.text  # the request log ran
    assert secret not in caplog.text
    assert alice.password not in caplog.text
    assert "BEGIN PRIVATE KEY" not in caplog.text
    assert "BEGIN PRIVATE KEY" not in repr(ident.identity.ring.active)
