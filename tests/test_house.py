"""Every part keeps the house rules of docs/house.md: a public `__all__`, errors under ZosError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
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
