"""The conformance suite of the node's OCI runtime seam, run against crun and runc.

``check_runtime(make, root)`` runs every check on runtimes ``make(state_dir)`` makes, on bundles
whose root is busybox-static (Debian's) copied under ``root``. Each check uses its own
container and leaves none behind (``delete`` is part of what is checked).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ..node.containers.runtime import Runtime, RuntimeFailure, State
from ..node.containers.spec import Spec

RuntimeMaker = Callable[[Path], Runtime]
BUSYBOX = Path("/bin/busybox")
WAIT = 20.0  # seconds a state change may take on a loaded machine
WAITING_INIT = ["/bin/sh", "-c", "trap 'kill $!; exit 0' TERM; sleep 2147483647 & wait"]


def busybox_rootfs(folder: Path) -> Path:
    """A root file system of busybox-static alone: /bin/busybox and its applets as links."""
    if not BUSYBOX.is_file():
        raise FileNotFoundError("busybox-static is not installed (apt-get install busybox-static)")
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    for name in ("proc", "dev", "sys", "tmp", "etc", "root"):
        (folder / name).mkdir(exist_ok=True)
    shutil.copy2(BUSYBOX, folder / "bin" / "busybox")
    for applet in ("sh", "sleep", "cat", "echo", "hostname", "ls", "wget", "nc", "ip", "true"):
        link = folder / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    return folder


class _Case:
    """One container of a check: its bundle and its name."""

    def __init__(self, runtime: Runtime, root: Path, args: list[str]) -> None:
        self.runtime = runtime
        self.id = f"check{uuid.uuid4().hex[:10]}"
        self.bundle = root / self.id
        self.hostname = f"h{self.id[-8:]}"
        rootfs = busybox_rootfs(self.bundle / "rootfs")
        Spec(rootfs=rootfs, args=args, hostname=self.hostname).write(self.bundle)
        self.log = self.bundle / "init.log"

    def wait_for(self, wanted: Callable[[State | None], bool], what: str) -> State | None:
        deadline = time.monotonic() + WAIT
        while True:
            state = self.runtime.state(self.id)
            if wanted(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.runtime.name}: {what}: still {state}")
            time.sleep(0.05)

    def cleanup(self) -> None:
        with contextlib.suppress(RuntimeFailure):
            self.runtime.delete(self.id)
        shutil.rmtree(self.bundle, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler for ``signum`` (its SigCgt mask)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(
        (line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), "0"
    )
    return bool(int(caught, 16) >> (signum - 1) & 1)


def check_lifecycle(runtime: Runtime, root: Path) -> None:
    """create -> created (init waiting), start -> running, SIGTERM -> stopped, delete -> gone."""
    case = _Case(runtime, root, WAITING_INIT)
    try:
        assert runtime.state(case.id) is None, "a container that was never made has a state"
        pid = runtime.create(case.id, case.bundle, log=case.log)
        created = runtime.state(case.id)
        assert created is not None, "created, but the runtime does not know it"
        assert created.status == "created", created
        assert created.pid > 0
        assert pid == created.pid, f"create said pid {pid}, state says {created.pid}"
        assert _alive(created.pid)
        runtime.start(case.id)
        running = case.wait_for(lambda s: s is not None and s.status == "running", "start")
        assert running is not None
        assert running.pid == created.pid
        # pid 1 of a namespace loses a signal it has no handler for: its shell must have set
        # its trap first (on a loaded machine "running" can come well before that)
        deadline = time.monotonic() + WAIT
        while not _catches(created.pid, signal.SIGTERM):
            assert time.monotonic() < deadline, "the init never set its SIGTERM trap"
            time.sleep(0.02)
        runtime.kill(case.id, signal.SIGTERM)
        case.wait_for(lambda s: s is not None and s.status == "stopped", "SIGTERM")
        assert not _alive(created.pid), "stopped, but its init still runs"
        runtime.delete(case.id)
        assert runtime.state(case.id) is None, "deleted, but the runtime still knows it"
    finally:
        case.cleanup()


def check_run_creates_and_starts(runtime: Runtime, root: Path) -> None:
    """run is create and start at once: the container runs its program, run gives its pid."""
    case = _Case(runtime, root, WAITING_INIT)
    try:
        pid = runtime.run(case.id, case.bundle, log=case.log)
        running = case.wait_for(lambda s: s is not None and s.status == "running", "run")
        assert running is not None
        assert running.pid == pid, f"run said pid {pid}, state says {running.pid}"
        argv = runtime.exec_argv(case.id, ["/bin/sh", "-c", "echo $$"], env={}, cwd="")
        done = subprocess.run(argv, capture_output=True, timeout=WAIT, check=False)
        assert done.returncode == 0, done.stderr
        runtime.delete(case.id)
        assert runtime.state(case.id) is None
    finally:
        case.cleanup()


def check_delete_kills_a_running_container(runtime: Runtime, root: Path) -> None:
    case = _Case(runtime, root, ["/bin/sleep", "1000"])  # ignores SIGTERM as pid 1
    try:
        runtime.create(case.id, case.bundle, log=case.log)
        runtime.start(case.id)
        state = case.wait_for(lambda s: s is not None and s.status == "running", "start")
        assert state is not None
        runtime.delete(case.id)
        assert runtime.state(case.id) is None
        deadline = time.monotonic() + WAIT
        while _alive(state.pid):
            assert time.monotonic() < deadline, "deleted, but its init still runs"
            time.sleep(0.05)
        runtime.delete(case.id)  # deleting what is gone is no error
    finally:
        case.cleanup()


def check_exec_runs_inside(runtime: Runtime, root: Path) -> None:
    """exec_argv runs a command in the container's namespaces (its hostname, its env, cwd)."""
    case = _Case(runtime, root, WAITING_INIT)
    try:
        runtime.create(case.id, case.bundle, log=case.log)
        runtime.start(case.id)
        case.wait_for(lambda s: s is not None and s.status == "running", "start")
        argv = runtime.exec_argv(
            case.id, ["/bin/sh", "-c", "hostname; echo $FOO; pwd"], env={"FOO": "bar"}, cwd="/tmp"
        )
        done = subprocess.run(argv, capture_output=True, timeout=WAIT, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode().split() == [case.hostname, "bar", "/tmp"], done.stdout
        code = subprocess.run(
            runtime.exec_argv(case.id, ["/bin/sh", "-c", "exit 7"], env={}, cwd=""),
            capture_output=True,
            timeout=WAIT,
            check=False,
        ).returncode
        assert code == 7, f"exec's exit code is not the command's: {code}"
    finally:
        case.cleanup()


def check_a_missing_program_fails(runtime: Runtime, root: Path) -> None:
    """An init that does not exist is an error of create or start, never a running container."""
    case = _Case(runtime, root, ["/no/such/program"])
    try:
        try:
            runtime.create(case.id, case.bundle, log=case.log)
            runtime.start(case.id)
        except RuntimeFailure as exc:
            if not str(exc):
                raise AssertionError(f"{runtime.name}: a failure without a message") from exc
        else:
            case.wait_for(lambda s: s is None or s.status == "stopped", "a missing program")
    finally:
        case.cleanup()
    assert runtime.state(case.id) is None


def check_a_bad_bundle_is_refused(runtime: Runtime, root: Path) -> None:
    case = _Case(runtime, root, WAITING_INIT)
    try:
        (case.bundle / "config.json").write_text("{not json")
        try:
            runtime.create(case.id, case.bundle, log=case.log)
        except RuntimeFailure:
            pass
        else:
            raise AssertionError(f"{runtime.name}: a broken config.json was taken")
        assert runtime.state(case.id) is None
    finally:
        case.cleanup()


RUNTIME_CHECKS = [
    check_lifecycle,
    check_run_creates_and_starts,
    check_delete_kills_a_running_container,
    check_exec_runs_inside,
    check_a_missing_program_fails,
    check_a_bad_bundle_is_refused,
]


def check_runtime(make: RuntimeMaker, root: Path) -> None:
    """Run every check of the Runtime interface on a runtime ``make(root/'state')`` makes."""
    runtime = make(root / "state")
    for check in RUNTIME_CHECKS:
        check(runtime, root)


__all__ = ["RUNTIME_CHECKS", "RuntimeMaker", "busybox_rootfs", "check_runtime"]
