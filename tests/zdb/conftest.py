"""Real zero-db servers for the tests: subprocesses on free ports, stopped cleanly."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from zeroos.testing import ZdbProcess as BaseZdbProcess

from .tarantool_util import SKIP_TARANTOOL, shared_tarantool, stop_shared


class ZdbProcess(BaseZdbProcess):
    """A `zos zdb serve` process on the session's engine (Tarantool: a database of its own)."""

    def __init__(self, root: Path, *args: str, engine: str = "embedded") -> None:
        super().__init__(root, *args)
        self.engine = engine

    def argv(self) -> list[str]:
        cmd = super().argv()
        if self.engine == "tarantool":
            # each server root is its own database in the session's Tarantool instance
            shared = shared_tarantool()
            cmd += ["--engine", "tarantool", "--tarantool", shared.address]
            cmd += [
                "--tarantool-db",
                str(self.root),
                "--tarantool-password-file",
                str(shared.secret),
            ]
        return cmd


ENGINES = ("embedded", "tarantool")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_engines: run this module's zdb servers on every engine"
    )
    config.addinivalue_line(
        "markers", "embedded_only: the test reads or damages the embedded engine's files"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "zdb_engine" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--zdb-engine", default="all")
    engines = ["embedded"]
    definition = metafunc.definition
    if (
        definition.get_closest_marker("both_engines") is not None
        and definition.get_closest_marker("embedded_only") is None
    ):
        engines = [e for e in ENGINES if chosen in ("all", e)]
        if SKIP_TARANTOOL and "tarantool" in engines:
            engines.remove("tarantool")
    metafunc.parametrize("zdb_engine", engines or ["embedded"], scope="session")


@pytest.fixture(scope="session", autouse=True)
def _tarantool_session() -> Iterator[None]:
    """The session's Tarantool (started on first use) is stopped at the end."""
    yield
    stop_shared()


@pytest.fixture
def zdb_factory(tmp_path: Path, zdb_engine: str) -> Iterator[object]:
    """Start servers with chosen options; every one is stopped at the end of the test."""
    started: list[ZdbProcess] = []

    def make(*args: str, root: Path | None = None) -> ZdbProcess:
        server = ZdbProcess(root or tmp_path / f"zdb{len(started)}", *args, engine=zdb_engine)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def zdb_shared(tmp_path_factory: pytest.TempPathFactory, zdb_engine: str) -> Iterator[ZdbProcess]:
    """One server for tests that only use their own namespaces and keys."""
    root = tmp_path_factory.mktemp(f"zdb-shared-{zdb_engine}")
    server = ZdbProcess(root, engine=zdb_engine).start()
    yield server
    assert server.stop() == 0


@pytest.fixture
def zdb(zdb_factory: object) -> ZdbProcess:
    """A fresh server with no admin password (every client is admin)."""
    return zdb_factory()  # type: ignore[operator]


@pytest.fixture
def rcli(zdb: ZdbProcess) -> redis.Redis:
    return zdb.client()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def has_redis_cli() -> bool:
    return any(
        os.access(os.path.join(p, "redis-cli"), os.X_OK) for p in os.environ["PATH"].split(":")
    )
