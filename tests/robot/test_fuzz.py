"""A schemathesis run against zero-robot's OpenAPI description: no input makes it answer 5xx,
and every refusal is one ``{"message": ...}``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error

from .conftest import RobotServer
from .templates import git_repository


@pytest.fixture(scope="module")
def fuzzed_robot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RobotServer]:
    root = tmp_path_factory.mktemp("robot-fuzz")
    server = RobotServer(root, git_repository(root / "repo"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_schema(fuzzed_robot: RobotServer) -> Any:
    # adding a repository clones whatever URL it is given: not for a fuzzer on a shared machine
    schema = schemathesis.openapi.from_url(fuzzed_robot.url + "/openapi.json")
    return schema.exclude(name="POST /templates")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis.settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)
def test_openapi_fuzz_never_500(case: Any) -> None:
    response = case.call_and_validate(checks=[not_a_server_error])
    ctype = response.headers.get("content-type") or [""]
    if response.status_code >= 400 and ctype[0].startswith("application/json"):
        assert response.json()["message"]
