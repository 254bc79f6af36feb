"""Template repositories the robot's tests load: good templates, and broken ones."""

from __future__ import annotations

import subprocess
from pathlib import Path

COUNTER = """
import time
from pydantic import BaseModel
from zeroos.robot import TemplateBase


class Counter(TemplateBase):
    template_name = "counter"
    version = "0.0.1"
    timeout = 2.0

    class Data(BaseModel):
        start: int = 0
        label: str = "c"

    def install(self) -> str:
        self.logger.info("installing %s", self.data.label)
        self.state.set("actions", "install", "ok")
        return "installed " + self.data.label

    def add(self, n: int = 1) -> int:
        self.update(start=self.data.start + n)
        return self.data.start

    def boom(self) -> None:
        raise ValueError("the boom action always fails")

    def hang(self) -> None:
        time.sleep(3600)

    def slow(self, seconds: float = 1.0) -> float:
        time.sleep(seconds)
        return seconds
"""

TICKER = """
from pydantic import BaseModel
from zeroos.robot import TemplateBase


class Ticker(TemplateBase):
    template_name = "ticker"
    version = "1.0.0"
    recurring = {"tick": 0.2}

    class Data(BaseModel):
        ticks: int = 0

    def tick(self) -> int:
        self.update(ticks=self.data.ticks + 1)
        return self.data.ticks
"""

BROKEN_SYNTAX = "def oops(:\n    pass\n"
BROKEN_IMPORT = "import no_such_module_for_zero_robot\n"


def write_templates(root: Path, *, broken: bool = True) -> Path:
    """A folder ``root/templates/<name>/<name>.py`` with the good (and broken) templates."""
    files = {"counter": COUNTER, "ticker": TICKER}
    if broken:
        files |= {"broken_syntax": BROKEN_SYNTAX, "broken_import": BROKEN_IMPORT}
    for name, text in files.items():
        folder = root / "templates" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.py").write_text(text)
    return root


def git_repository(root: Path) -> Path:
    """A real git repository of the templates, committed."""
    write_templates(root)
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "t"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, timeout=60)
    return root


def commit(root: Path, message: str) -> None:
    """Commit everything in the repository ``root``."""
    for args in (
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", message],
    ):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, timeout=60)
