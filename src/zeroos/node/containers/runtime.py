"""The OCI runtime seam: create, start, state, kill, delete a container from a bundle.

crun and runc (Debian's) speak the same command line (the OCI runtime CLI), so one class
drives either, each with a state folder of its own (``--root``) kept under the node's data:
a restarted node finds its containers there. :func:`zeroos.testing.runtime.check_runtime` is the
one conformance suite every implementation passes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import NodeError

RUNTIME_TIMEOUT = 60.0  # seconds one runtime call may take (a loaded machine; never hangs)
PID_POLL = 0.001  # seconds between looks for the pid a starting container's runtime writes


class RuntimeFailure(NodeError):
    """The runtime refused or failed a call: its own line, with what was asked."""


@dataclass(frozen=True, slots=True)
class State:
    """A container as its runtime sees it: created, running or stopped; its init's pid."""

    id: str
    status: str
    pid: int


class Runtime(Protocol):
    """What the node needs of an OCI runtime."""

    name: str
    cgroups_refused: str | None  # why this runtime cannot apply cgroup limits here; None: it can

    def create(self, cid: str, bundle: Path, *, log: Path) -> int:
        """Make the container from ``bundle`` (config.json); its init waits for start; its pid."""
        ...

    def start(self, cid: str) -> None: ...

    def run(self, cid: str, bundle: Path, *, log: Path) -> int:
        """create and start in one call (one runtime process, not two, which stays as the
        container's monitor and deletes it when its init exits); its init's pid."""
        ...

    def state(self, cid: str) -> State | None:
        """Its state, or None when the runtime knows no such container."""
        ...

    def kill(self, cid: str, signal: int) -> None: ...

    def delete(self, cid: str) -> None:
        """Forget it (killing what is left of it); no error when it is gone already."""
        ...

    def exec_argv(self, cid: str, argv: list[str], *, env: dict[str, str], cwd: str) -> list[str]:
        """The command line that runs ``argv`` inside the running container."""
        ...


class OciCli:
    """crun or runc through their (common) OCI command line, state kept under ``root``."""

    def __init__(self, binary: str, root: Path) -> None:
        path = shutil.which(binary)
        if path is None:
            raise RuntimeFailure(
                f"no OCI runtime {binary!r} on this machine", hint=f"apt-get install {binary}"
            )
        self.name = binary
        self.binary = path
        self.root = root
        self.prefix = [path, "--root", str(root)]
        self.cgroups_refused: str | None = None
        if binary == "crun" and hybrid_cgroups():
            # crun 1.8 refuses to run at all beside a v2 hierarchy that has controllers; in a
            # mount namespace of its own without that hierarchy it sees plain v1 and runs
            self.prefix = [*HIDE_UNIFIED, *self.prefix]
        root.mkdir(parents=True, exist_ok=True)

    def _run(self, *args: str, log: Path | None = None) -> str:
        argv = [*self.prefix, *args]
        try:
            if log is None:
                done = subprocess.run(
                    argv,
                    capture_output=True,
                    timeout=RUNTIME_TIMEOUT,
                    check=False,
                    stdin=subprocess.DEVNULL,
                )
            else:
                # the container's init inherits these: its output goes to its log, not to a
                # pipe of ours (which would stay open as long as it runs)
                start = log.stat().st_size if log.exists() else 0
                with log.open("ab") as sink:
                    done = subprocess.run(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=sink,
                        stderr=sink,
                        timeout=RUNTIME_TIMEOUT,
                        check=False,
                        start_new_session=True,
                    )
                with log.open("rb") as logged:
                    logged.seek(start)
                    done.stderr = logged.read()
        except subprocess.TimeoutExpired as exc:
            raise RuntimeFailure(
                f"{self.name} {args[0]}: no answer in {RUNTIME_TIMEOUT:.0f} s"
            ) from exc
        if done.returncode != 0:
            said = (done.stderr or b"").decode(errors="replace").strip().splitlines()
            raise RuntimeFailure(f"{self.name} {args[0]}: {said[-1] if said else 'failed'}")
        return (done.stdout or b"").decode(errors="replace")

    def create(self, cid: str, bundle: Path, *, log: Path) -> int:
        pid_file = bundle / "init.pid"
        self._run("create", "--bundle", str(bundle), "--pid-file", str(pid_file), cid, log=log)
        return self._pid(cid, pid_file)

    def start(self, cid: str) -> None:
        self._run("start", cid)

    def run(self, cid: str, bundle: Path, *, log: Path) -> int:
        """The runtime's `run` in the foreground, left running beside the container as its
        monitor (in a session of its own: it outlives the node), which deletes the container
        when its init exits; its init's pid once the runtime has written it.

        Not `run --detach`: with it a start took either ~33 or ~65 ms here (nearly always 65
        after 0.1 s idle; why is not known), the foreground `run` ~33 ms."""
        pid_file = bundle / "init.pid"
        pid_file.unlink(missing_ok=True)
        argv = [*self.prefix, "run", "--bundle", str(bundle), "--pid-file", str(pid_file), cid]
        start = log.stat().st_size if log.exists() else 0
        with log.open("ab") as sink:
            # the container's init inherits these: its output goes to its log
            monitor = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, start_new_session=True
            )
        # reaped when it ends (the container's end), whether or not the node still asks
        threading.Thread(target=monitor.wait, name=f"{self.name} {cid}", daemon=True).start()
        deadline = time.monotonic() + RUNTIME_TIMEOUT
        while (pid := _read_pid(pid_file)) is None:
            if monitor.poll() is not None:
                with log.open("rb") as logged:
                    logged.seek(start)
                    said = logged.read().decode(errors="replace").strip().splitlines()
                raise RuntimeFailure(f"{self.name} run: {said[-1] if said else 'failed'}")
            if time.monotonic() > deadline:
                monitor.kill()
                raise RuntimeFailure(f"{self.name} run: no pid in {RUNTIME_TIMEOUT:.0f} s")
            time.sleep(PID_POLL)
        return pid

    def _pid(self, cid: str, pid_file: Path) -> int:
        try:
            return int(pid_file.read_text())
        except (OSError, ValueError) as exc:
            raise RuntimeFailure(f"{self.name}: no pid of {cid}'s init: {exc}") from exc

    def state(self, cid: str) -> State | None:
        try:
            said = self._run("state", cid)
        except RuntimeFailure as exc:
            if not (self.root / cid).exists():
                return None
            raise exc
        body = json.loads(said)
        return State(str(body["id"]), str(body["status"]), int(body.get("pid") or 0))

    def kill(self, cid: str, signal: int) -> None:
        self._run("kill", cid, str(signal))

    def delete(self, cid: str) -> None:
        if not (self.root / cid).exists():
            return
        try:
            self._run("delete", "--force", cid)
        except RuntimeFailure:
            # the monitor of a container made by run deletes it too once its init is gone:
            # what it removed first is no error
            deadline = time.monotonic() + RUNTIME_TIMEOUT
            while (self.root / cid).exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            if (self.root / cid).exists():
                raise

    def exec_argv(self, cid: str, argv: list[str], *, env: dict[str, str], cwd: str) -> list[str]:
        flags = [f"--env={k}={v}" for k, v in env.items()]
        if cwd:
            flags.append(f"--cwd={cwd}")
        return [*self.prefix, "exec", *flags, cid, *argv]


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.strip().isdigit() else None


RUNTIMES = ("crun", "runc")
UNIFIED = "/sys/fs/cgroup/unified"
HIDE_UNIFIED = [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    f'umount {UNIFIED} && exec "$0" "$@"',
]


def hybrid_cgroups() -> bool:
    """Whether cgroup v1 hierarchies are mounted beside a v2 one that has controllers."""
    unified = Path(UNIFIED, "cgroup.controllers")
    try:
        return bool(unified.read_text().split()) and Path("/sys/fs/cgroup/memory").is_dir()
    except OSError:
        return False


def open_runtime(name: str, data: Path) -> OciCli:
    """The runtime ``name`` (crun or runc) with its state under ``data/runtime/NAME``."""
    if name not in RUNTIMES:
        raise RuntimeFailure(f"unknown OCI runtime {name!r}: use one of {', '.join(RUNTIMES)}")
    return OciCli(name, data / "runtime" / name)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["RUNTIMES", "OciCli", "Runtime", "RuntimeFailure", "State", "open_runtime", "pid_alive"]
