"""`zos node serve`'s flags: a node never starts open to the network, nor without a way in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        ([], "a node needs --org ORG and --id URL (or --dev, open on loopback)"),
        (["--org", "x"], "a node needs --org ORG and --id URL"),
        (["--dev", "--listen", "0.0.0.0"], "--dev is open to anyone: it listens on loopback only"),
        (["--dev", "--org", "x"], "--dev runs without passwords: drop --org and --id"),
    ],
)
def test_refused_settings_are_one_line(tmp_path: Path, flags: list[str], line: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "zeroos.cli", "node", "serve", "--data", str(tmp_path), *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: node: ")
    assert line in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
