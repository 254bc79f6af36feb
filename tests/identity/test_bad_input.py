"""Bad input gets a 4xx with a clear message, never a 500; a schemathesis run checks the rest."""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error

from .conftest import Actor, chunked_flood


@pytest.mark.parametrize(
    ("content", "ctype"),
    [
        (b"{not json", "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b'{"username": "abc"}', "application/json"),  # missing password
        (b'{"username": "abc", "password": "longenough1", "role": "x"}', "application/json"),
        (b'{"username": "' + b"a" * 300 + b'", "password": "longenough1"}', "application/json"),
        (b'{"username": "abc", "password": "' + b"p" * 129 + b'"}', "application/json"),
        (b"[]", "application/json"),
        (b"username=abc", "application/x-www-form-urlencoded"),
        (b"x" * 70_000, "application/json"),
    ],
)
def test_bad_bodies_are_4xx(http, content, ctype):
    r = http.post("/api/users", content=content, headers={"content-type": ctype})
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error_description"]


def test_bad_paths_and_params_are_4xx(http, new_user):
    alice = new_user()
    for path in (
        "/api/users/UPPER",
        "/api/users/" + "a" * 40,
        "/api/organizations/.bad",
        "/api/users/ab%00c",
    ):
        assert 400 <= alice.call("GET", path).status_code < 500
    r = http.post(
        "/v1/oauth/access_token", params={"grant_type": "password", "username": "x" * 300}
    )
    assert r.status_code == 422
    r = http.post("/v1/oauth/access_token", content=b"grant_type=password&password=" + b"x" * 3000,
                  headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status_code == 400


@pytest.fixture(scope="module")
def api_schema(ident):
    return schemathesis.openapi.from_url(ident.url + "/openapi.json")


@pytest.fixture(scope="module")
def api_token(ident):
    with ident.http() as http:
        return Actor(http, "fuzzer").token


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis.settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)
def test_openapi_fuzz_never_500(case, api_token):
    case.call_and_validate(
        headers={"Authorization": f"bearer {api_token}"}, checks=[not_a_server_error]
    )


@pytest.mark.parametrize(
    ("path", "ctype"),
    [
        ("/api/users", "application/json"),
        ("/v1/oauth/access_token", "application/x-www-form-urlencoded"),
    ],
)
def test_a_chunked_body_is_cut_at_the_limit_not_read_whole(ident, path, ctype):
    sent, answer = chunked_flood(ident.url, path, ctype)
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 413 Request Entity Too Large", answer[:300]
    assert b"connection: close" in rest.lower()
    assert rest.endswith(b'"error_description":"request body over 65536 bytes"}')
    # 64 KiB were enough to know: what the sockets' buffers took before the answer came, no more
    assert sent < 32 * 2**20, sent
    with ident.http() as http:
        assert http.get("/.well-known/jwks.json").status_code == 200  # serving everyone else
