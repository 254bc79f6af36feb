"""Real Tarantool instances for the tests, started through `zos zdb tarantool start`'s code."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from zeroos.zdb.tarantool.instance import Instance, free_port, start, wait_connected

HAVE_TARANTOOL = shutil.which("tarantool") is not None

_shared: Instance | None = None
_shared_root: str | None = None


def shared_tarantool() -> Instance:
    """One instance for the whole session (each test uses its own database name in it)."""
    global _shared, _shared_root
    if _shared is None or not _shared.alive():
        _shared_root = tempfile.mkdtemp(prefix="zdb-tarantool-")
        _shared = start(Path(_shared_root) / "tt", free_port())
        atexit.register(stop_shared)
    return _shared


def stop_shared() -> None:
    global _shared, _shared_root
    if _shared is not None:
        _shared.stop()
        _shared = None
    if _shared_root is not None:
        shutil.rmtree(_shared_root, ignore_errors=True)
        _shared_root = None


def replica_set(root: Path, size: int = 3) -> list[Instance]:
    """``size`` instances as one replica set: the first leads, the others replicate."""
    ports = [free_port() for _ in range(size)]
    addresses = [f"127.0.0.1:{p}" for p in ports]
    members = [start(root / "tt0", ports[0], peers=addresses[1:])]
    for i in range(1, size):
        others = [a for j, a in enumerate(addresses) if j not in (0, i)]
        members.append(start(root / f"tt{i}", ports[i], replica_of=addresses[:1], peers=others))
    wait_connected(addresses)
    return members
