"""A schemathesis run against zero-hub's OpenAPI description: no input makes it answer 5xx,
and every refusal comes in 0-hub's envelope."""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error

from .conftest import Hub, User, register


@pytest.fixture(scope="module")
def api_schema(hub: Hub) -> Any:
    return schemathesis.openapi.from_url(hub.url + "/openapi.json")


@pytest.fixture(scope="module")
def fuzzer(hub: Hub) -> User:
    return User("fuzzer", register(hub, "fuzzer"), hub)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis.settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)
def test_openapi_fuzz_never_500(case: Any, fuzzer: User) -> None:
    response = case.call_and_validate(headers=fuzzer.headers(), checks=[not_a_server_error])
    ctype = response.headers.get("content-type") or [""]
    if response.status_code >= 400 and ctype[0].startswith("application/json"):
        body = response.json()
        assert body["status"] == "error"
        assert body["message"]
