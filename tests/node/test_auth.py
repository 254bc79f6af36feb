"""The redis password is a zero-id token naming the node's organisation; nothing else gets in."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest
import redis

from .conftest import Actor, Node

WAIT = 60


def _member_token(owner: Actor, org: str, validity: int = 600) -> str:
    r = owner.call(
        "GET", "/v1/oauth/jwt", params={"scope": f"user:memberof:{org}", "validity": validity}
    )
    assert r.status_code == 200, r.text
    return r.text


@pytest.fixture
def org_node(
    start_node: Callable[..., Node],
    ident: object,
    new_user: Callable[[], Actor],
    org_name: Callable[[], str],
) -> tuple[Node, Actor, str]:
    owner, org = new_user(), org_name()
    assert owner.call("POST", "/api/organizations", json={"globalid": org}).status_code == 201
    node = start_node("--org", org, "--id", ident.url)  # type: ignore[attr-defined]
    return node, owner, org


def test_a_member_drives_the_node_over_tls(
    org_node: tuple[Node, Actor, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    node, owner, org = org_node
    monkeypatch.setenv("SSL_CERT_FILE", str(node.cert))
    client = node.client(ssl=True, password=_member_token(owner, org))
    assert client.ping() == "PONG"
    assert client.system("echo member").get(WAIT).stdout == "member\n"


def test_tokens_that_do_not_let_in(
    org_node: tuple[Node, Actor, str],
    new_user: Callable[[], Actor],
    start_id: Callable[..., object],
) -> None:
    node, owner, org = org_node
    # no password: redis-py 8's HELLO 3 is refused, and so is any command of a RESP2 client
    with pytest.raises(redis.AuthenticationError, match="HELLO must be called with the client"):
        redis.Redis(port=node.port, socket_timeout=WAIT).ping()
    r = redis.Redis(port=node.port, socket_timeout=WAIT, protocol=2)
    with pytest.raises(redis.AuthenticationError, match="Authentication required"):
        r.rpush("core:default", "{}")
    # a valid token of a user outside the organisation
    outsider = new_user().call("GET", "/v1/oauth/jwt", params={"scope": "user:name"}).text
    with pytest.raises(redis.AuthenticationError, match=f"lacks scope user:memberof:{org}"):
        redis.Redis(port=node.port, password=outsider, socket_timeout=WAIT).ping()
    # not a token at all, and a member's token signed by another zero-id
    with pytest.raises(redis.AuthenticationError, match="invalid token"):
        redis.Redis(port=node.port, password="secret", socket_timeout=WAIT).ping()
    other = start_id()
    with other.http() as http:  # type: ignore[attr-defined]
        stranger = Actor(http, f"s{id(other) % 100000}")
        assert (
            stranger.call("POST", "/api/organizations", json={"globalid": org}).status_code == 201
        )
        foreign = _member_token(stranger, org)
    with pytest.raises(redis.AuthenticationError, match="invalid token"):
        redis.Redis(port=node.port, password=foreign, socket_timeout=WAIT).ping()
    # redis-py 3.x's handshake: AUTH alone, no HELLO, on the connection already open
    with pytest.raises(redis.AuthenticationError, match="lacks scope"):
        r.execute_command("AUTH", outsider)
    assert r.execute_command("AUTH", _member_token(owner, org)) is True
    assert r.rpush("core:default", "{}") == 1


def test_an_expired_token_is_refused(org_node: tuple[Node, Actor, str]) -> None:
    node, owner, org = org_node
    token = _member_token(owner, org, validity=1)
    assert node.client(password=token).ping() == "PONG"
    # the node allows zero-id's 5 s of clock leeway past the expiry
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    while time.time() < expires + 6:
        time.sleep(0.5)
    with pytest.raises(redis.AuthenticationError, match="invalid token"):
        redis.Redis(port=node.port, password=token, socket_timeout=WAIT).ping()
