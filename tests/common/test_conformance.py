"""The conformance suite itself: a correct engine passes it, an engine with one bug does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from zeroos.testing.engine import check_engine
from zeroos.zdb.embedded import EmbeddedEngine
from zeroos.zdb.engine import Engine, Store


class _EmptyIsMissing:
    """A store that loses empty values (a bug an engine could have): everything else delegated."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, key: bytes) -> bytes | None:
        value = self._store.get(key)
        return value or None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class _BuggyEngine:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def open(self, name: str) -> Any:
        store = self._engine.open(name)
        return None if store is None else _EmptyIsMissing(store)

    def create(self, name: str, settings: Any) -> Any:
        return _EmptyIsMissing(self._engine.create(name, settings))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def _embedded(root: Path, datasize: int) -> Engine:
    return EmbeddedEngine(str(root / "data"), str(root / "index"), datasize)


def test_a_buggy_engine_fails_the_suite(tmp_path: Path) -> None:
    def buggy(root: Path, datasize: int) -> Engine:
        return cast(Engine, _BuggyEngine(_embedded(root, datasize)))

    with pytest.raises(AssertionError):
        check_engine(buggy, tmp_path, examples=5)


def test_the_suite_leaves_only_its_roots(tmp_path: Path) -> None:
    check_engine(_embedded, tmp_path, examples=5)
    assert not (tmp_path / "model").exists()  # the random runs' folders are removed
    assert (tmp_path / "check_clear").is_dir()
