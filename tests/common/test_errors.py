"""Every part's errors derive from ZosError, and `zos` prints them in one place."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from zeroos.cli.main import main, zos
from zeroos.common.errors import ZosError


@pytest.fixture
def failing_command() -> Iterator[str]:
    """A sub-command of the real `zos` group that raises a ZosError with a hint and a code."""

    @click.command("fail-for-test")
    def fail() -> None:
        raise ZosError("the thing broke", hint="mend the thing", exit_code=3)

    zos.add_command(fail)
    try:
        yield "fail-for-test"
    finally:
        zos.commands.pop("fail-for-test")


def test_main_prints_error_and_hint_and_exits_with_its_code(
    failing_command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([failing_command])
    assert exit_info.value.code == 3
    assert capsys.readouterr().err == "error: the thing broke\nhint: mend the thing\n"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["stor", "-c", "{tmp}/missing.yaml", "list"], "missing.yaml"),
        (
            ["zdb", "compact", "--data", "{tmp}/d", "--index", "{tmp}/i"],
            "data folder {tmp}/d not found",
        ),
    ],
)
def test_a_parts_error_is_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    """zero-stor's and zero-db's errors reach the same one-line printer (no group of their own)."""
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = subprocess.run(
        [sys.executable, "-m", "zeroos.cli", *argv], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1, out
    assert out.stderr.startswith("error: "), out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    assert needle.replace("{tmp}", str(tmp_path)) in out.stderr  # names the missing thing
