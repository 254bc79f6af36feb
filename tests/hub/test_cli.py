"""`zos hub login|push|ls|pull|rm|link|merge|promote` against a real hub."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .conftest import Hub, make_archive


def zos(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZOS_CONFIG_DIR": str(home)}
    return subprocess.run([sys.executable, "-m", "zeroos.cli", "hub", *args],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip


def test_the_command_line_round_trip(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    alice, bob = new_user(), new_user()
    home, bob_home = tmp_path / "home", tmp_path / "bob"
    r = zos(home, "ls")
    assert r.returncode != 0
    assert r.stderr.strip().splitlines()[-1].startswith("error: no hub")
    r = zos(home, "login", "--url", hub.url, "--token", "not-a-token")
    assert r.returncode != 0
    assert "HTTP 401" in r.stderr
    r = zos(home, "login", "--url", hub.url, "--token", alice.token)
    assert r.returncode == 0, r.stderr
    assert f"as {alice.name}" in r.stdout
    assert (home / "hub.json").stat().st_mode & 0o777 == 0o600
    make_archive(tmp_path / "tool.tar.gz", {"bin/tool": b"#!/bin/sh\n"})
    r = zos(home, "push", str(tmp_path / "tool.tar.gz"))
    assert r.returncode == 0, r.stderr
    assert f'"{alice.name}/tool.fl"' in r.stdout
    assert zos(home, "link", "tool.fl", "latest.fl").returncode == 0
    out = zos(home, "ls", alice.name).stdout
    assert "tool.fl\t" in out
    assert "latest.fl\t" in out
    assert f"-> {alice.name}/tool.fl" in out
    assert f"{alice.name}/tool.fl" in zos(home, "ls").stdout.splitlines()
    r = zos(home, "merge", "both.fl", f"{alice.name}/tool.fl", f"{alice.name}/latest.fl")
    assert r.returncode == 0, r.stderr
    r = zos(home, "pull", f"{alice.name}/both.fl", str(tmp_path / "both.fl"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "both.fl").stat().st_size > 0
    assert zos(bob_home, "login", "--url", hub.url, "--token", bob.token).returncode == 0
    r = zos(bob_home, "promote", f"{alice.name}/tool.fl", "borrowed.fl")
    assert r.returncode == 0, r.stderr
    assert zos(home, "rm", "latest.fl").returncode == 0
    r = zos(home, "rm", "latest.fl")
    assert r.returncode != 0
    assert "not found" in r.stderr
    r = zos(home, "pull", "nonsense")
    assert r.returncode != 0
    assert zos(bob_home, "ls", bob.name).stdout.startswith("borrowed.fl\t")
