"""pytest fixtures for every part's tests (``pytest_plugins = ["zeroos.testing.fixtures"]``).

They start real servers on the shared harness (:mod:`zeroos.common.harness`) and stop every
one they started when the test ends, whatever it did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import free_port
from .servers import ZdbProcess


@pytest.fixture
def free_tcp_port() -> int:
    """A loopback TCP port nobody listens on."""
    return free_port()


@pytest.fixture
def zdb_processes(tmp_path: Path) -> Iterator[Callable[..., ZdbProcess]]:
    """``make(*args)``: start ``zos zdb serve ARGS`` (embedded engine); all stopped after."""
    started: list[ZdbProcess] = []

    def make(*args: str, root: Path | None = None) -> ZdbProcess:
        server = ZdbProcess(root or tmp_path / f"zdb-process{len(started)}", *args)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


__all__ = ["free_tcp_port", "zdb_processes"]
