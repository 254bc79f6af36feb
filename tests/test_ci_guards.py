"""The suite cannot pass by running less: what scripts/test.sh sets, and what it makes fail.

The tests run pytest (or bash) in a child process with a PATH that has no tarantool, so they
hold whether or not this machine has one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARANTOOL_TEST = "tests/zdb/test_engine_conformance.py::test_engine_conforms[tarantool]"


def clean_env(**changes: str | None) -> dict[str, str]:
    """This environment without the guards, then with changes (None removes a name)."""
    env = dict(os.environ)
    for name in ("CI", "ZOS_REQUIRE_TARANTOOL", "ZOS_REQUIRE_NATIVE"):
        env.pop(name, None)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def sourced(env: dict[str, str]) -> dict[str, str]:
    """The environment after sourcing scripts/_test_env.sh as scripts/test.sh does."""
    out = subprocess.run(
        ["bash", "-c", ". scripts/_test_env.sh && env -0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def run_pytest(tmp_path: Path, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    # a PATH with nothing on it but an empty folder: no tarantool can be found
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=clean_env(PATH=str(empty), **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_test_sh_sets_ci_and_the_require_guards() -> None:
    # scripts/test.sh sources this file right before pytest
    assert "scripts/_test_env.sh" in (ROOT / "scripts" / "test.sh").read_text()
    env = sourced(clean_env())
    assert env["CI"] == "1"
    assert env["ZOS_REQUIRE_TARANTOOL"] == "1"
    assert env["ZOS_REQUIRE_NATIVE"] == "1"
    # a CI that sets its own value keeps it
    assert sourced(clean_env(CI="true"))["CI"] == "true"


def test_ci_loads_the_derandomised_hypothesis_profile() -> None:
    code = "import tests.conftest; from hypothesis import settings; print(settings().derandomize)"

    def derandomised(env: dict[str, str]) -> str:
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()

    assert derandomised(sourced(clean_env())) == "True"
    assert derandomised(clean_env()) == "False"


def test_missing_tarantool_fails_when_required(tmp_path: Path) -> None:
    required = run_pytest(tmp_path, TARANTOOL_TEST, ZOS_REQUIRE_TARANTOOL="1")
    assert required.returncode == 1, required.stdout
    assert "cannot run tarantool" in required.stdout, required.stdout
    # the engine is made inside the test, so a missing binary is a failure, not a skip
    assert "1 failed" in required.stdout, required.stdout
    assert "skipped" not in required.stdout, required.stdout
    # the server-level modules keep their tarantool cases too
    listed = run_pytest(tmp_path, "--co", "tests/zdb/test_bad_input.py", ZOS_REQUIRE_TARANTOOL="1")
    assert "[tarantool]" in listed.stdout, listed.stdout


def test_missing_tarantool_is_a_skip_when_not_required(tmp_path: Path) -> None:
    # locally, without tarantool, its tests are left out (and say so)
    loose = run_pytest(tmp_path, TARANTOOL_TEST)
    assert loose.returncode == 0, loose.stdout
    assert "1 skipped" in loose.stdout, loose.stdout
    listed = run_pytest(tmp_path, "--co", "tests/zdb/test_bad_input.py")
    assert "[tarantool]" not in listed.stdout, listed.stdout
    assert "[embedded]" in listed.stdout, listed.stdout
