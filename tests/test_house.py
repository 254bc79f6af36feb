"""Every part keeps the house rules of docs/house.md: a public `__all__`, errors under ZosError."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import zeroos._version
from zeroos.common.errors import ZosError

# the shared layer, the test layer and the command line are not parts
NOT_PARTS = {"common", "testing", "cli"}
PARTS = sorted(
    info.name
    # our own folder only: zeroos.__path__ also holds site-packages' zeroos/core0 (0-core-client)
    for info in pkgutil.iter_modules([str(Path(zeroos._version.__file__).parent)])
    if info.ispkg and info.name not in NOT_PARTS
)


def _part(name: str) -> ModuleType:
    return importlib.import_module(f"zeroos.{name}")


def test_the_parts_are_found() -> None:
    assert {"zdb", "stor", "identity"} <= set(PARTS)


@pytest.mark.parametrize("name", PARTS)
def test_a_part_has_all(name: str) -> None:
    part = _part(name)
    names = getattr(part, "__all__", None)
    assert isinstance(names, list), f"zeroos.{name} has no __all__ list"
    assert names, f"zeroos.{name}.__all__ is empty"
    for exported in names:
        assert getattr(part, exported, None) is not None, f"zeroos.{name}.{exported} is missing"


@pytest.mark.parametrize("name", PARTS)
def test_a_parts_errors_derive_from_zos_error(name: str) -> None:
    errors = importlib.import_module(f"zeroos.{name}.errors")
    defined = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == errors.__name__
    ]
    roots = [cls for cls in defined if ZosError in cls.__bases__]
    assert roots, f"zeroos.{name}.errors has no error root deriving from ZosError"
    exported = set(_part(name).__all__)
    for cls in defined:
        if cls.__name__ in exported:
            assert issubclass(cls, ZosError), f"zeroos.{name}.{cls.__name__} is not a ZosError"


# what `zos zdb serve` must not load: the other parts, the clients, and libraries only they
# use; each cost a server start tenths of a second (a restart with 1 M keys went from 1.9 s to
# 3.8 s when the command line loaded every part up front)
SERVE_NEEDS_NONE_OF = (
    "zeroos.identity",
    "zeroos.stor",
    "zeroos.flist",
    "zeroos.hub",
    "zeroos.node",
    "zeroos.robot",
    "zeroos.zdb.client",
    "redis",
    "httpx",
    "jwt",
    "rich.progress",
    # 0-core-client's zeroos/__init__.py declares the namespace through it; scripts/_setup.sh
    # rewrites that declaration with pkgutil
    "pkg_resources",
)


def test_zos_zdb_serve_imports_only_what_it_needs() -> None:
    probe = (
        "import json, sys, click\n"
        "from zeroos.cli.main import zos\n"
        "zdb = zos.get_command(click.Context(zos), 'zdb')\n"
        "assert zdb.get_command(click.Context(zdb), 'serve') is not None\n"
        "before = sorted(sys.modules)\n"
        "import zeroos.zdb.main, zeroos.zdb.embedded\n"  # what serve loads after its settings
        "print(json.dumps([before, sorted(sys.modules)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    before, loaded = json.loads(done.stdout)
    # serve chooses the C module from its settings (no_native) before the engine loads
    assert "zeroos.zdb.settings" in before
    assert not [m for m in before if m.startswith(("zeroos.zdb.embedded", "zeroos.zdb.chain"))]
    assert "zeroos.zdb.embedded.store" in loaded
    heavy = [m for m in loaded if any(m == n or m.startswith(f"{n}.") for n in SERVE_NEEDS_NONE_OF)]
    assert not heavy, f"`zos zdb serve` loads modules it does not use: {heavy}"


def test_python_m_runs_the_command_line_without_a_warning() -> None:
    """`python -m zeroos.cli.main` (how tests and scripts run it) says nothing on stderr."""
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "zeroos.cli.main", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "Usage: zos" in done.stdout


# where the environment may be read for configuration: the command line and the settings loader
ENV_READERS = ("cli/", "common/settings.py")


def _environment_reads(tree: ast.AST) -> list[int]:
    """Lines that read one variable: os.getenv(...), os.environ[...] / .get(...), ... in os.environ.

    Handing the whole environment to a child ({**os.environ, ...}, dict(os.environ)) is fine.
    """
    lines = []
    for node in ast.walk(tree):
        from_os = isinstance(node, ast.ImportFrom) and node.module == "os"
        names = {alias.name for alias in node.names} if from_os else set()  # type: ignore[attr-defined]
        if names & {"environ", "getenv", "getenvb"}:
            lines.append(node.lineno)
        if not isinstance(node, ast.Attribute) or not isinstance(node.value, ast.Name):
            continue
        if node.value.id == "os" and node.attr in ("getenv", "getenvb", "environb"):
            lines.append(node.lineno)
    for node in ast.walk(tree):
        environ = [
            child
            for child in ast.iter_child_nodes(node)
            if isinstance(child, ast.Attribute)
            and child.attr == "environ"
            and isinstance(child.value, ast.Name)
            and child.value.id == "os"
        ]
        if not environ:
            continue
        reads = (
            (isinstance(node, ast.Subscript) and node.value is environ[0])
            or (isinstance(node, ast.Attribute) and node.attr in ("get", "pop", "setdefault"))
            or (isinstance(node, ast.Compare) and any(c is environ[0] for c in node.comparators))
        )
        if reads:
            lines.append(node.lineno)
    return sorted(lines)


def test_library_code_reads_no_environment() -> None:
    root = Path(zeroos._version.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(ENV_READERS):
            continue
        for line in _environment_reads(ast.parse(path.read_text(), str(path))):
            found.append(f"src/zeroos/{relative}:{line}")
    assert not found, (
        "library code reads environment variables (make them settings the part's "
        f"settings.py declares, read by the loader): {found}"
    )


def test_the_environment_check_finds_each_kind_of_read() -> None:
    reads = (
        "import os\na = os.getenv('X')\nb = os.environ['X']\nc = os.environ.get('X')\n"
        "d = 'X' in os.environ\nfrom os import environ\n"
    )
    assert _environment_reads(ast.parse(reads)) == [2, 3, 4, 5, 6]
    passes = "import os\nenv = {**os.environ, 'A': '1'}\ncopy = dict(os.environ)\n"
    assert _environment_reads(ast.parse(passes)) == []


# modules over MAX_LINES, each with the reason it is one file; a new long module needs a split
# along its seams (or a reason here), and one that shrank leaves the list
MAX_LINES = 500
LONG_MODULES = {
    "zdb/client/steps.py": "every zero-db command's request and reply steps: one protocol table",
}


def test_long_modules_have_a_reason() -> None:
    root = Path(zeroos._version.__file__).parent
    long = {
        path.relative_to(root).as_posix(): len(path.read_text().splitlines())
        for path in root.rglob("*.py")
    }
    long = {name: lines for name, lines in long.items() if lines > MAX_LINES}
    unexplained = {name: lines for name, lines in long.items() if name not in LONG_MODULES}
    assert not unexplained, (
        f"modules over {MAX_LINES} lines: split them along their seams, or give the reason "
        f"in LONG_MODULES: {unexplained}"
    )
    shrunk = sorted(set(LONG_MODULES) - set(long))
    assert not shrunk, f"no longer over {MAX_LINES} lines: take them out of LONG_MODULES: {shrunk}"
