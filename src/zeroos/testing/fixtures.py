"""pytest fixtures for every part's tests (``pytest_plugins = ["zeroos.testing.fixtures"]``).

They start real servers on the shared harness (:mod:`zeroos.common.harness`) and stop every
one they started when the test ends, whatever it did.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import free_port
from .guest import Guest, build_guest
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


@pytest.fixture(scope="session")
def vm_guest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guest]:
    """The test guest (a Debian kernel, a busybox initramfs), built once for the whole run in
    the run's temporary folder and removed at its end."""
    cache = tmp_path_factory.mktemp("vm-guest")
    yield build_guest(cache)
    shutil.rmtree(cache, ignore_errors=True)


__all__ = ["free_tcp_port", "vm_guest", "zdb_processes"]
