"""Start and stop a local Tarantool instance configured for zero-db (the Lua ships with us)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from ...common import address as common_address
from ..errors import StorageError
from .auth import SECRET_FILE, USER, Credentials, instance_secret, read_secret

PID_FILE = "zdb-tarantool.pid"
LOG_FILE = "tarantool.log"


def lua_script() -> str:
    """Path of the instance script shipped in the package."""
    return str(files("zeroos.zdb.tarantool").joinpath("init.lua"))


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (or PORT alone, on 127.0.0.1) -> (host, port)."""
    try:
        address = common_address.parse_address(text)
    except common_address.AddressError as exc:
        raise StorageError(f"invalid Tarantool address: {exc}") from None
    return address.host, address.port


def parse_addresses(text: str) -> list[tuple[str, int]]:
    out = [parse_address(a) for a in text.split(",") if a.strip()]
    if not out:
        raise StorageError("no Tarantool address given (expected HOST:PORT[,HOST:PORT...])")
    return out


@dataclass
class Instance:
    """A Tarantool process started by :func:`start`."""

    dir: Path
    host: str
    port: int
    pid: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def secret(self) -> Path:
        """The file holding the password of the instance's zero-db user (mode 0600)."""
        return self.dir / SECRET_FILE

    def credentials(self) -> Credentials:
        return Credentials(USER, read_secret(self.secret))

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        """kill -9: no chance to write anything more."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout: float = 15.0) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.alive():
            self.kill()
        if self.proc is not None:
            self.proc.wait()
        with contextlib.suppress(FileNotFoundError):
            (self.dir / PID_FILE).unlink()


def _ready(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.settimeout(0.5)
            return sock.recv(64).startswith(b"Tarantool")
    except OSError:
        return False


def start(
    dir: str | Path,
    port: int,
    *,
    host: str = "127.0.0.1",
    replica_of: list[str] | None = None,
    peers: list[str] | None = None,
    quorum: int | None = None,
    synchro_timeout: float = 5.0,
    timeout: float = 60.0,
    binary: str = "tarantool",
    password_file: str | Path | None = None,
) -> Instance:
    """Start a Tarantool instance for zero-db in ``dir`` and wait until it answers.

    ``replica_of``: the instance joins the leader (the first address that answers) as a
    read-only replica. ``peers``: the other members of the set, for the first instance (it
    then knows it is a member: restarted, it waits read-only until zero-db promotes a leader).
    ``quorum``: copies a write needs before it is acknowledged (default: a majority).
    ``password_file``: the password of the zero-db user (a replica needs its leader's);
    by default the one kept in ``dir``, made at the first start. Guest may do nothing.
    """
    folder = Path(dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    # the Lua reads the file itself: the password stays out of the environment and argv
    secret = instance_secret(folder, password_file, replica=bool(replica_of))
    members = [a for a in [*(replica_of or []), *(peers or [])] if a]
    size = 1 + len(members)
    env = dict(os.environ)
    env.update(
        ZDB_TT_DIR=str(folder),
        ZDB_TT_LISTEN=f"{host}:{port}",
        ZDB_TT_REPLICA_OF=",".join(replica_of or []),
        ZDB_TT_PEERS=",".join(peers or []),
        ZDB_TT_QUORUM=str(quorum or size // 2 + 1),
        ZDB_TT_SYNCHRO_TIMEOUT=str(synchro_timeout),
        ZDB_TT_READ_ONLY="1" if replica_of else "0",
        ZDB_TT_SECRET=str(secret),
    )
    log = open(folder / LOG_FILE, "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            [binary, lua_script()],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    except OSError as exc:
        raise StorageError(
            f"cannot run {binary}: {exc.strerror} (install it: apt-get install tarantool)"
        ) from exc
    finally:
        log.close()
    (folder / PID_FILE).write_text(f"{proc.pid}\n")
    instance = Instance(folder, host, port, proc.pid, proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (folder / LOG_FILE).read_bytes()[-2000:].decode(errors="replace")
            raise StorageError(f"tarantool exited with {proc.returncode}:\n{tail}")
        if _ready(host, port) and b"ready listen" in (folder / LOG_FILE).read_bytes()[-65536:]:
            return instance
        time.sleep(0.05)
    instance.stop()
    raise StorageError(f"tarantool on {host}:{port} did not start in {timeout:.0f}s")


def stop(dir: str | Path, timeout: float = 15.0) -> bool:
    """Stop the instance started in ``dir``; False when none runs there."""
    folder = Path(dir).resolve()
    try:
        pid = int((folder / PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    Instance(folder, "", 0, pid).stop(timeout)
    return True


__all__ = ["Instance", "lua_script", "parse_address", "parse_addresses", "start", "stop"]


def wait_connected(addresses: list[str], credentials: Credentials, timeout: float = 30.0) -> None:
    """Wait until every member follows all its upstreams (a replica set is ready)."""
    import tarantool

    deadline = time.monotonic() + timeout
    pending = list(addresses)
    while pending and time.monotonic() < deadline:
        host, port = parse_address(pending[0])
        try:
            conn = tarantool.Connection(
                host,
                port,
                user=credentials.user,
                password=credentials.password,
                socket_timeout=2,
                connection_timeout=1,
                fetch_schema=False,
            )
            try:
                ready = bool(conn.call("zdb_upstreams").data[0])
            finally:
                conn.close()
        except (tarantool.error.Error, OSError):
            ready = False
        if ready:
            pending.pop(0)
        else:
            time.sleep(0.1)
    if pending:
        raise StorageError(f"the replica set did not connect in {timeout:.0f}s: {pending}")
