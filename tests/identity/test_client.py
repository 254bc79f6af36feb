"""zeroos.identity.client.IdentityClient against a real zero-id: every call the CLI makes, and
its errors (zero-id's reason with the HTTP status; a server that is not there)."""

from __future__ import annotations

import itertools

import pytest

from zeroos.identity.client import IdentityClient, KeyOwner, RemoteError, Unreachable
from zeroos.testing import free_port

from .conftest import Running

_n = itertools.count()


def test_a_user_an_organisation_and_keys_through_the_client(ident: Running) -> None:
    n = next(_n)
    alice, bob, org = f"clia{n}", f"clib{n}", f"cliorg{n}"
    with IdentityClient(ident.url, timeout=10) as anonymous:
        assert anonymous.register(alice, "password123")["username"] == alice
        anonymous.register(bob, "password123", "bob@example.org")
        alice_token = anonymous.password_grant(alice, "password123")["access_token"]
        bob_token = anonymous.password_grant(bob, "password123")["access_token"]
    with IdentityClient(ident.url, alice_token) as a, IdentityClient(ident.url, bob_token) as b:
        assert a.user(alice)["username"] == alice
        assert a.create_org(org)["owners"] == [alice]
        assert a.create_org(f"{org}.sub")["globalid"] == f"{org}.sub"
        assert a.org(org, tree=True)["children"][0]["globalid"] == f"{org}.sub"
        a.invite(org, bob)
        assert [i["organization"] for i in b.notifications(bob)] == [org]
        b.answer_invitation(bob, org, "member")
        assert a.is_member(org, bob) == {"IsMember": True}
        b.leave(bob, org)
        assert a.is_member(org, bob) == {"IsMember": False}

        secret = a.create_apikey(KeyOwner.user(alice), "ci")["secret"]
        assert [k["label"] for k in a.apikeys(KeyOwner.user(alice))] == ["ci"]
        grant = a.client_credentials(alice, secret)
        assert a.introspect(grant["access_token"])["active"] is True
        jwt = a.jwt(scope=f"user:memberof:{org}", aud="hub", validity=60)
        assert a.introspect(jwt)["active"] is True
        a.delete_apikey(KeyOwner.user(alice), "ci")
        assert a.apikeys(KeyOwner.user(alice)) == []
        org_key = a.create_apikey(KeyOwner.org(org), "bot", "member")
        assert org_key["label"] == "bot"
        a.delete_org(org)
        b.delete_user(bob)


def test_a_refusal_carries_the_reason_and_the_status(ident: Running) -> None:
    with IdentityClient(ident.url, timeout=10) as anonymous:
        with pytest.raises(RemoteError) as refused:
            anonymous.user("nobodyhere")
        assert refused.value.status == 401
        assert "bearer" in str(refused.value)
        assert "(HTTP 401)" in str(refused.value)
        with pytest.raises(RemoteError) as invalid:
            anonymous.user("Not-A-Name")
        assert invalid.value.status == 422
        assert "path.username" in str(invalid.value)
        with pytest.raises(RemoteError) as bad:
            anonymous.password_grant("nobodyhere", "wrong-password")
        assert bad.value.status in (400, 401)


def test_a_server_that_is_not_there_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with IdentityClient(url, timeout=2) as client, pytest.raises(Unreachable) as gone:
        client.jwt()
    assert str(gone.value).startswith(f"cannot reach zero-id at {url}")
