"""The OCI runtime seam: crun and runc pass one conformance suite; a runtime with a bug fails it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zeroos.node.containers import OciCli, Runtime
from zeroos.testing.runtime import check_runtime

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@pytest.mark.parametrize("binary", ["crun", "runc"])
def test_runtime_conforms(binary: str, tmp_path: Path) -> None:
    check_runtime(lambda state: OciCli(binary, state), tmp_path)


class DropsTheEnvironment(OciCli):
    """crun with one bug: exec forgets the environment it was given."""

    def exec_argv(self, cid: str, argv: list[str], *, env: dict[str, str], cwd: str) -> list[str]:
        return super().exec_argv(cid, argv, env={}, cwd=cwd)


def test_a_runtime_with_one_bug_fails_the_suite(tmp_path: Path) -> None:
    def make(state: Path) -> Runtime:
        return DropsTheEnvironment("crun", state)

    with pytest.raises(AssertionError, match="bar"):
        check_runtime(make, tmp_path)
