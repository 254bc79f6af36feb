"""`zeroos.zdb`'s public API: what `__all__` promises, and that importing it stays light."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import zeroos.zdb

EXPECTED = {
    "AsyncClient",
    "ChecksumError",
    "Client",
    "CorruptData",
    "Engine",
    "EntryInfo",
    "HistoryEntry",
    "KeyNotFound",
    "Mode",
    "NamespaceInfo",
    "NamespaceNotFound",
    "NamespaceSettings",
    "NoMoreData",
    "NoSpaceLeft",
    "PermissionDenied",
    "ProofMismatch",
    "ReadOnly",
    "SignatureMismatch",
    "ValueMismatch",
    "VerificationError",
    "ScanEntry",
    "TrioClient",
    "StorageError",
    "Store",
    "Version",
    "ZdbConnectionError",
    "ZdbError",
    "ZdbResponseError",
    "ZdbSettings",
    "ZdbTimeoutError",
    "run",
}


def test_all_matches_the_expected_names():
    assert set(zeroos.zdb.__all__) == EXPECTED
    assert len(zeroos.zdb.__all__) == len(EXPECTED)  # no duplicates


def test_all_is_sorted():
    assert zeroos.zdb.__all__ == sorted(zeroos.zdb.__all__)


def test_all_has_no_private_names():
    assert not [name for name in zeroos.zdb.__all__ if name.startswith("_")]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_name_is_importable(name):
    assert getattr(zeroos.zdb, name) is not None
    namespace: dict[str, object] = {}
    exec(f"from zeroos.zdb import {name}", namespace)
    assert namespace[name] is getattr(zeroos.zdb, name)


def test_star_import_gives_exactly_all():
    namespace: dict[str, object] = {}
    exec("from zeroos.zdb import *", namespace)
    assert set(namespace) - {"__builtins__"} == EXPECTED


def test_every_public_attribute_is_exported():
    """Like httpx's guard: every public name of the package is in __all__ (submodules aside)."""
    for name in zeroos.zdb.__all__:
        getattr(zeroos.zdb, name)  # load the lazy ones
    public = {
        name
        for name, value in vars(zeroos.zdb).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert sorted(public) == zeroos.zdb.__all__
    assert set(dir(zeroos.zdb)) >= EXPECTED


def test_errors_share_one_base():
    errors = [getattr(zeroos.zdb, n) for n in EXPECTED if n.endswith(("Error", "Data"))]
    errors += [zeroos.zdb.KeyNotFound, zeroos.zdb.NamespaceNotFound, zeroos.zdb.NoSpaceLeft]
    errors += [zeroos.zdb.PermissionDenied, zeroos.zdb.ReadOnly]
    for error in errors:
        assert issubclass(error, zeroos.zdb.ZdbError), error


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = zeroos.zdb.Nope  # type: ignore[attr-defined]


def _modules_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(out.stdout.split())


def test_importing_the_package_is_light():
    """Neither redis-py nor the server load until a client is asked for."""
    loaded = _modules_after("import zeroos.zdb")
    assert "redis" not in loaded
    assert not loaded & {"zeroos.zdb.server", "zeroos.zdb.server.commands", "zeroos.zdb.client"}


def test_the_clients_do_not_import_the_server():
    loaded = _modules_after("from zeroos.zdb import Client, AsyncClient")
    assert {"zeroos.zdb.client", "zeroos.zdb.client.aio", "redis"} <= loaded
    assert not [m for m in loaded if m.startswith("zeroos.zdb.server")]
    assert "zeroos.zdb.protocol" not in loaded
    assert not [m for m in loaded if m.startswith("zeroos.zdb.embedded")]
