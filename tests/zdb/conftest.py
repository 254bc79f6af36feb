"""Real zero-db servers for the tests: subprocesses on free ports, stopped cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from .tarantool_util import SKIP_TARANTOOL, shared_tarantool, stop_shared

_LISTENING = re.compile(r"event=listening addresses=(\S+)")


class ZdbProcess:
    """A `zos zdb serve` process with its own data and index directories."""

    def __init__(self, root: Path, *args: str, engine: str = "embedded") -> None:
        self.root = root
        self.engine = engine
        self.datadir = root / "data"
        self.indexdir = root / "index"
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log = root / "server.log"

    def start(self, timeout: float = 20.0) -> ZdbProcess:
        self.root.mkdir(parents=True, exist_ok=True)
        offset = self.log.stat().st_size if self.log.exists() else 0
        cmd = [
            sys.executable,
            "-m",
            "zeroos.cli.main",
            "zdb",
            "serve",
            "--port",
            str(self.port),
            "--data",
            str(self.datadir),
            "--index",
            str(self.indexdir),
            *self.args,
        ]
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
        logfile = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(cmd, stdout=logfile, stderr=logfile)
        logfile.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            match = _LISTENING.search(text)
            if match:
                for address in match.group(1).split(","):
                    if not address.startswith("unix:"):
                        self.port = int(address.rsplit(":", 1)[1])
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"zero-db exited with {self.proc.returncode}:\n{text}")
            time.sleep(0.02)
        self.proc.kill()
        raise RuntimeError(f"zero-db did not start in {timeout}s:\n{self.log.read_text()}")

    def client(self, **kwargs: object) -> redis.Redis:
        """A plain redis-py client (no namespace handling of its own)."""
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=10,
            **kwargs,  # type: ignore[arg-type]
        )

    def cli(self, *args: str, input: bytes | None = None) -> str:
        """Run redis-cli against this server and return what it printed."""
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            input=input,
            capture_output=True,
            timeout=30,
            check=True,
        )
        return out.stdout.decode()

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def kill(self) -> None:
        """kill -9: no chance to flush or close anything."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def restart(self) -> ZdbProcess:
        self.stop()
        return self.start()


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


def has_redis_cli() -> bool:
    return any(
        os.access(os.path.join(p, "redis-cli"), os.X_OK) for p in os.environ["PATH"].split(":")
    )
