"""A real ``zos robot serve`` over a real git repository of templates."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from zeroos.common.harness import Child, zos_serve

from .templates import git_repository


@dataclass
class RobotServer:
    """A robot child process, restartable on its data folder (on a new port)."""

    root: Path
    repo: Path
    child: Child | None = None
    extra: tuple[str, ...] = ()

    def start(self) -> RobotServer:
        argv = zos_serve(
            "robot", "--port", "0", "--dev", "--data", str(self.root / "data"),
            "--template-repo", f"file://{self.repo}", "--task-timeout", "30", *self.extra,
        )  # fmt: skip
        child = Child(argv, self.root / "robot.ready", log=self.root / "robot.log", name="robot")
        self.child = child.start(60.0)
        return self

    @property
    def url(self) -> str:
        if self.child is None:
            raise RuntimeError("the robot is not running")
        return f"http://127.0.0.1:{self.child.port}"

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def kill(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child = None

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None


@pytest.fixture
def robot_server(tmp_path: Path) -> Iterator[RobotServer]:
    server = RobotServer(tmp_path, git_repository(tmp_path / "templates-repo"))
    try:
        yield server.start()
    finally:
        server.stop()
