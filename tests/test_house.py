"""Every part keeps the house rules of docs/house.md: a public `__all__`, errors under ZosError."""

from __future__ import annotations

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
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(done.stdout)
    assert "zeroos.zdb.main" in loaded
    assert "zeroos.zdb.embedded.store" in loaded
    heavy = [m for m in loaded if any(m == n or m.startswith(f"{n}.") for n in SERVE_NEEDS_NONE_OF)]
    assert not heavy, f"`zos zdb serve` loads modules it does not use: {heavy}"
