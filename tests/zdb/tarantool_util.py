"""Real Tarantool instances for the tests, started through `zos zdb tarantool start`'s code.

Every instance of a session shares one password file, and ZOS_TARANTOOL_PASSWORD holds it, so
engines and servers the tests open (in this process or in children) authenticate as zdb.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from zeroos.testing import free_port
from zeroos.zdb.tarantool.auth import PASSWORD_ENV, read_secret, write_secret
from zeroos.zdb.tarantool.instance import Instance, start, wait_connected

HAVE_TARANTOOL = shutil.which("tarantool") is not None
# scripts/test.sh sets ZOS_REQUIRE_TARANTOOL=1: there the Tarantool engine's tests must run, so
# a missing tarantool fails them instead of leaving them out (CI cannot pass by running less)
REQUIRE_TARANTOOL = os.environ.get("ZOS_REQUIRE_TARANTOOL") == "1"
SKIP_TARANTOOL = not HAVE_TARANTOOL and not REQUIRE_TARANTOOL
needs_tarantool = pytest.mark.skipif(SKIP_TARANTOOL, reason="no tarantool on PATH")

_shared: Instance | None = None
_root: str | None = None


def _session_root() -> Path:
    global _root
    if _root is None:
        _root = tempfile.mkdtemp(prefix="zdb-tarantool-")
        atexit.register(stop_shared)
    return Path(_root)


def session_secret() -> Path:
    """The session's password file (0600), its password exported for the tests' zero-dbs."""
    path = _session_root() / "secret"
    if not path.exists():
        write_secret(path, os.urandom(18).hex())
    os.environ[PASSWORD_ENV] = read_secret(path)
    return path


def start_instance(dir: str | Path, port: int, **kwargs: Any) -> Instance:
    """An instance with the session's password."""
    return start(dir, port, password_file=session_secret(), **kwargs)


def shared_tarantool() -> Instance:
    """One instance for the whole session (each test uses its own database name in it)."""
    global _shared
    if _shared is None or not _shared.alive():
        _shared = start_instance(_session_root() / "tt", free_port())
    return _shared


def stop_shared() -> None:
    global _shared, _root
    if _shared is not None:
        _shared.stop()
        _shared = None
    if _root is not None:
        shutil.rmtree(_root, ignore_errors=True)
        _root = None
        os.environ.pop(PASSWORD_ENV, None)


def replica_set(root: Path, size: int = 3) -> list[Instance]:
    """``size`` instances as one replica set: the first leads, the others replicate."""
    ports = [free_port() for _ in range(size)]
    addresses = [f"127.0.0.1:{p}" for p in ports]
    members = [start_instance(root / "tt0", ports[0], peers=addresses[1:])]
    for i in range(1, size):
        others = [a for j, a in enumerate(addresses) if j not in (0, i)]
        members.append(
            start_instance(root / f"tt{i}", ports[i], replica_of=addresses[:1], peers=others)
        )
    wait_connected(addresses, members[0].credentials())
    return members
