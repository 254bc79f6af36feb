"""zero-db's engines against the Engine/Store conformance suite (zeroos.testing.check_engine).

Each engine is a factory ``(root, datasize) -> Engine``: called again with the same root it
must reopen what an earlier engine left there. To run the suite against another engine, add
one more entry to ENGINES.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from zeroos.testing.engine import check_engine
from zeroos.zdb.embedded import EmbeddedEngine
from zeroos.zdb.engine import Engine

from .tarantool_util import needs_tarantool, session_secret, shared_tarantool


@dataclass(frozen=True)
class EngineKind:
    """How to make (and reopen) one kind of engine for the suite."""

    name: str
    make: Callable[[Path, int], Engine]
    # how many data files a namespace uses on disk, when the engine splits its data by
    # datasize (None: the engine has no such notion and rotation is not checked)
    data_files: Callable[[Path, str], int] | None = None


def _embedded(root: Path, datasize: int) -> Engine:
    return EmbeddedEngine(str(root / "data"), str(root / "index"), datasize)


def _embedded_files(root: Path, name: str) -> int:
    return sum(1 for f in os.listdir(root / "data" / name) if f.startswith("zdb-data-"))


def _tarantool(root: Path, datasize: int) -> Engine:
    from zeroos.zdb.tarantool import TarantoolEngine

    # one shared instance; the root names the database, so a reopen finds the same namespaces
    return TarantoolEngine(
        shared_tarantool().address,
        str(root),
        keydir=str(root / "index"),
        password_file=session_secret(),
    )


ENGINES = [
    pytest.param(EngineKind("embedded", _embedded, _embedded_files), id="embedded"),
    pytest.param(
        EngineKind("tarantool", _tarantool),
        id="tarantool",
        marks=needs_tarantool,
    ),
]


@pytest.mark.parametrize("kind", ENGINES)
@pytest.mark.timeout(1200)  # every check, one after the other, on a loaded machine
def test_engine_conforms(kind: EngineKind, tmp_path: Path) -> None:
    check_engine(kind.make, tmp_path, data_files=kind.data_files)
