"""Settings shared by every part's tests."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# zeroos.testing's conformance checks assert as tests do: show what differed when one fails
pytest.register_assert_rewrite("zeroos.testing")

# the shared fixtures of every part (real servers on the harness); see zeroos.testing
pytest_plugins = ["zeroos.testing.fixtures"]

# CI must be repeatable: the same examples every run. Locally, new examples keep looking for bugs.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--zdb-engine",
        choices=("all", "embedded", "tarantool"),
        default="all",
        help="Engines the server-level zero-db tests run against (modules marked both_engines).",
    )
