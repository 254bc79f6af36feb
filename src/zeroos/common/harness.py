"""Start a zeroos server as a child process and know when it is ready: its ready file.

One way for every caller that runs a server of its own (zero-id's embedded zero-db, the tests'
fixtures, the benchmarks): :func:`zos_serve` builds the command line of ``zos PART serve``,
:class:`Child` starts it with ``--ready-file`` and waits for the file
(:mod:`zeroos.common.service` writes it once the server listens), then stops it with SIGTERM.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Final

from .errors import ZosError
from .service import Ready, read_ready_file

STOP_TIMEOUT: Final = 20.0
_POLL: Final = 0.02


class HarnessError(ZosError):
    """A child that could not be started, or exited or hung before it was ready."""


def zos_serve(part: str, *args: str) -> list[str]:
    """The command line of ``zos PART serve ARGS`` run by this Python."""
    return [sys.executable, "-m", "zeroos.cli", part, "serve", *args]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """A server child process: :meth:`start` returns once its ready file names its addresses.

    ``log``: a file the child's stdout and stderr are appended to; or ``on_line``: called with
    each line the child writes to stderr (from a thread); neither: both are discarded.
    ``die_with_parent``: the kernel stops the child if this process dies first, and the child
    has a process group of its own (Ctrl-C in a terminal reaches the parent only).
    """

    def __init__(
        self,
        argv: Sequence[str],
        ready_file: str | Path,
        *,
        env: Mapping[str, str] | None = None,
        log: str | Path | None = None,
        on_line: Callable[[str], None] | None = None,
        die_with_parent: bool = False,
        name: str | None = None,
    ) -> None:
        self.argv = [*argv, "--ready-file", str(ready_file)]
        self.ready_path = Path(ready_file)
        self.env = dict(env) if env is not None else None
        self.log = Path(log) if log is not None else None
        self.on_line = on_line
        self.die_with_parent = die_with_parent
        self.name = name or " ".join(argv[3:5]) or argv[0]
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready: Ready | None = None
        self._pump: threading.Thread | None = None

    @property
    def pid(self) -> int:
        """The child's process id (it must have been started)."""
        if self.proc is None:
            raise HarnessError(f"{self.name} is not running")
        return self.proc.pid

    @property
    def addresses(self) -> list[str]:
        """Where the child listens, as its ready file says."""
        if self.ready is None:
            raise HarnessError(f"{self.name} is not ready")
        return self.ready.addresses

    @property
    def port(self) -> int:
        """The first TCP port the child listens on."""
        if self.ready is None:
            raise HarnessError(f"{self.name} is not ready")
        return self.ready.port

    def start(self, timeout: float = 30.0) -> Child:
        """Start the child and wait up to ``timeout`` seconds for its ready file."""
        self.spawn()
        self.wait_ready(timeout)
        return self

    def spawn(self) -> Child:
        """Start the child without waiting for it (then :meth:`wait_ready`)."""
        with contextlib.suppress(FileNotFoundError):
            self.ready_path.unlink()  # a stale file of an earlier run says nothing
        self.ready = None
        stderr: int | IO[bytes] = subprocess.DEVNULL
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            stderr = open(self.log, "ab")  # noqa: SIM115 - handed to the child, closed below
        elif self.on_line is not None:
            stderr = subprocess.PIPE
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=stderr if self.log is not None else subprocess.DEVNULL,
                stderr=stderr,
                env=self.env,
                preexec_fn=_die_with_parent if self.die_with_parent else None,
                process_group=0 if self.die_with_parent else None,
            )
        except OSError as exc:
            raise HarnessError(f"cannot start {self.name}: {exc}") from exc
        finally:
            if not isinstance(stderr, int):
                stderr.close()
        if self.on_line is not None and self.proc.stderr is not None:
            self._pump = threading.Thread(target=self._pump_lines, daemon=True)
            self._pump.start()
        return self

    def _pump_lines(self) -> None:
        proc, on_line = self.proc, self.on_line
        if proc is None or proc.stderr is None or on_line is None:
            return
        with proc.stderr:
            for raw in proc.stderr:
                on_line(raw.decode(errors="replace").rstrip())

    def wait_ready(self, timeout: float = 30.0) -> Ready:
        """Wait for the ready file this child wrote; stop it if it exits or hangs first."""
        proc = self.proc
        if proc is None:
            raise HarnessError(f"{self.name} is not running")
        deadline = time.monotonic() + timeout
        while True:
            ready = read_ready_file(self.ready_path)
            if ready is not None and ready.pid == proc.pid:
                self.ready = ready
                return ready
            code = proc.poll()
            if code is not None:
                self.stop()
                raise HarnessError(
                    f"{self.name} exited with {code} before it was ready{self._tail()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise HarnessError(f"{self.name} was not ready in {timeout:g} s{self._tail()}")
            time.sleep(_POLL)

    def _tail(self) -> str:
        if self.log is None:
            return ""
        try:
            lines = self.log.read_text(errors="replace").splitlines()[-20:]
        except OSError:
            return ""
        return "; its log ends:\n" + "\n".join(lines) if lines else ""

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; the exit code (0 if not running)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        self._join_pump()
        return code

    def kill(self) -> None:
        """SIGKILL: the child has no chance to flush or close anything."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
        self._join_pump()

    def _join_pump(self) -> None:
        if self._pump is not None:
            self._pump.join(timeout=5)
            self._pump = None

    def __enter__(self) -> Child:
        return self if self.proc is not None else self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


__all__ = ["STOP_TIMEOUT", "Child", "HarnessError", "zos_serve"]
