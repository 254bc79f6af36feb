"""Real servers for tests and benchmarks: child processes on the shared harness."""

from __future__ import annotations

import subprocess
from pathlib import Path

import redis

from ..common.harness import Child, zos_serve


class ZdbProcess:
    """A ``zos zdb serve`` child with its own data and index folders under ``root``.

    Its output is appended to ``root/server.log``; it is ready when its ready file
    (``root/zdb.ready``) names its addresses. A restart keeps the port of the first start.
    """

    def __init__(self, root: Path, *args: str) -> None:
        self.root = Path(root)
        self.datadir = self.root / "data"
        self.indexdir = self.root / "index"
        self.args = list(args)
        self.port = 0
        self.log = self.root / "server.log"
        self.child: Child | None = None

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        """The running process (None once stopped)."""
        return None if self.child is None else self.child.proc

    def argv(self) -> list[str]:
        """The command line of the server (``--ready-file`` is added by the harness)."""
        return zos_serve(
            "zdb",
            "--port",
            str(self.port),
            "--data",
            str(self.datadir),
            "--index",
            str(self.indexdir),
            *self.args,
        )

    def start(self, timeout: float = 30.0) -> ZdbProcess:
        self.root.mkdir(parents=True, exist_ok=True)
        child = Child(self.argv(), self.root / "zdb.ready", log=self.log, name="zero-db")
        self.child = child.start(timeout)
        self.port = child.port
        return self

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
        """SIGTERM and wait; the exit code (0 if it was not running)."""
        child, self.child = self.child, None
        return 0 if child is None else child.stop()

    def kill(self) -> None:
        """kill -9: no chance to flush or close anything."""
        child, self.child = self.child, None
        if child is not None:
            child.kill()

    def restart(self) -> ZdbProcess:
        self.stop()
        return self.start()


__all__ = ["ZdbProcess"]
