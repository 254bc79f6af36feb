"""Run zero-id: its zero-db (embedded or given), the service, and uvicorn.

Without ``--zdb``, zero-id starts its own zero-db as a child process (``zos zdb serve`` on a unix
socket in ``DATA``, which is 0700, and a free loopback port; files in ``DATA/zdb-data`` and
``DATA/zdb-index``; a random admin password, and a random password on zero-id's namespace, both
kept in ``DATA/zdb.secret``, 0600). A child process rather than a thread: zero-db runs its own
event loop and signal handling, stays crash-safe on its own, and is used only through its
public client, as any other part would. The child is stopped with zero-id (after it, in a
process group of its own so that Ctrl-C reaches zero-id only), and is told by the kernel to stop
if zero-id dies first (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Final

import uvicorn

from ..zdb.client import Client, parse_url
from .app import create_app
from .errors import StorageUnavailable
from .lease import Lease
from .sealed import Sealer, SecretFileError, private_dir, read_or_create
from .service import Identity, Settings
from .store import DEFAULT_NAMESPACE, Store, open_namespace, protect_namespace

log = logging.getLogger("zeroos.identity")
_child_log = logging.getLogger("zeroos.identity.zdb")
_LISTENING: Final = re.compile(r"event=listening addresses=(\S+)")
# the child's lines: `ts=... level=info logger=zeroos.zdb <fields>` (see zeroos.cli.util)
_CHILD_LINE: Final = re.compile(r"^ts=\S+ level=(\w+) logger=\S+ (.*)$")
_SOCKET_PATH_MAX: Final = 100  # a unix socket path must fit in 108 bytes


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedZdb:
    """A zero-db child process keeping its files under ``root``, reachable by zero-id alone.

    ``root`` is made 0700. The child listens on a unix socket inside it (zero-id's way in) and
    on a free loopback port, with an admin password; every namespace opened through
    :meth:`client` is private, with a password. Both passwords are random, made at the first
    start and kept in ``root/zdb.secret`` (0600) for the next ones.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).absolute()
        self.admin = ""
        self.password = ""  # of every namespace zero-id opens here
        self.port = 0
        self.socket = self.root / "zdb.sock"
        self._socket_dir: Path | None = None  # a short folder when root's path is too long
        self.proc: subprocess.Popen[bytes] | None = None
        self._pump_thread: threading.Thread | None = None

    def _secrets(self) -> None:
        fresh = {"admin": secrets.token_urlsafe(24), "namespace": secrets.token_urlsafe(24)}
        path = self.root / "zdb.secret"
        try:
            kept = json.loads(read_or_create(path, json.dumps(fresh).encode()))
            self.admin, self.password = str(kept["admin"]), str(kept["namespace"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SecretFileError(f"{path} is not zero-id's zero-db secret file") from exc

    def start(self, timeout: float = 30.0) -> EmbeddedZdb:
        private_dir(self.root)
        self._secrets()
        if len(bytes(self.socket)) > _SOCKET_PATH_MAX:
            self._socket_dir = Path(tempfile.mkdtemp(prefix="zeroid-"))  # made 0700
            self.socket = self._socket_dir / "zdb.sock"
        cmd = [
            sys.executable,
            "-m",
            "zeroos.cli",
            "zdb",
            "serve",
            "--port",
            "0",
            "--socket",
            str(self.socket),
            "--data",
            str(self.root / "zdb-data"),
            "--index",
            str(self.root / "zdb-index"),
        ]
        env = {**os.environ, "ZOS_ZDB_ADMIN": self.admin}
        self.proc = subprocess.Popen(
            cmd,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,
            # a group of its own: Ctrl-C in a terminal reaches zero-id only, which then stops
            # it last (after deleting its lease)
            process_group=0,
        )
        if self.proc.stderr is None:  # pragma: no cover - stderr=PIPE always gives one
            raise StorageUnavailable("the embedded zero-db has no log stream")
        found: list[int] = []
        ready = threading.Event()
        self._pump_thread = threading.Thread(
            target=self._pump, args=(self.proc.stderr, found, ready), daemon=True
        )
        self._pump_thread.start()
        if not ready.wait(timeout) or not found:
            self.stop()
            raise StorageUnavailable("the embedded zero-db did not start (see its log above)")
        self.port = found[0]
        return self

    @staticmethod
    def _pump(stream: IO[bytes], found: list[int], ready: threading.Event) -> None:
        """Pass the child's log lines on to ours; note the port it listens on."""
        with stream:
            EmbeddedZdb._read(stream, found, ready)
        ready.set()

    @staticmethod
    def _read(stream: IO[bytes], found: list[int], ready: threading.Event) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            if not ready.is_set():
                match = _LISTENING.search(line)
                if match:
                    for address in match.group(1).split(","):
                        if not address.startswith("unix:"):
                            found.append(int(address.rsplit(":", 1)[1]))
                            break
                    ready.set()
            relay_child_line(line)

    def client(self, namespace: str = DEFAULT_NAMESPACE) -> Client:
        """An admin client on the unix socket, in ``namespace`` (made private, with a password)."""
        client = Client(unix_socket=str(self.socket), admin_password=self.admin)
        try:
            protect_namespace(client, namespace, self.password)
        except BaseException:
            client.close()
            raise
        return client

    def stop(self) -> int:
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=5)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        return code


def relay_child_line(line: str) -> None:
    """Log one line of the child zero-db's log as a line of ours (logger zeroos.identity.zdb,
    the child's level and fields), never quoted inside another line."""
    match = _CHILD_LINE.match(line)
    if match is None:  # a traceback or other raw output
        _child_log.warning("%s", line)
        return
    level = logging.getLevelName(match.group(1).upper())
    _child_log.log(level if isinstance(level, int) else logging.INFO, "%s", match.group(2))


def connect(spec: str, password: str | None = None, admin: str | None = None) -> Client:
    """A client for ``HOST:PORT/namespace`` or ``zdb://[:password@]host:port/namespace``."""
    url = spec if spec.startswith("zdb://") else f"zdb://{spec}"
    try:
        kwargs = parse_url(url)
    except ValueError as exc:
        raise StorageUnavailable(f"--zdb: {exc}") from exc
    namespace = kwargs.pop("namespace", DEFAULT_NAMESPACE)
    password = kwargs.pop("password", password)
    client = Client(**kwargs, admin_password=admin)
    open_namespace(client, namespace, password)
    return client


class IdentityServer:
    """zero-id on a bound socket; ``run()`` in the foreground or ``start()`` in a thread."""

    def __init__(
        self,
        identity: Identity,
        sock: socket.socket,
        *,
        log_level: str = "warning",
        lease: Lease | None = None,
        trusted_proxies: str = "",
    ) -> None:
        """``trusted_proxies``: comma-separated addresses whose X-Forwarded-For is believed.

        None by default: uvicorn would otherwise believe it from 127.0.0.1, and any local
        client could then pick the address its failed logins are throttled under.
        """
        self.identity = identity
        self.sock = sock
        self.lease = lease
        config = uvicorn.Config(
            create_app(identity),
            log_config=None,
            log_level=log_level,
            access_log=False,  # query strings may carry secrets (ItsYou.Online style)
            timeout_graceful_shutdown=5,
            proxy_headers=bool(trusted_proxies),
            forwarded_allow_ips=trusted_proxies or None,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        if lease is not None:
            # another zero-id took the namespace: this one's record cache may be stale, stop
            lease.on_lost(self._lease_lost)

    def _lease_lost(self) -> None:
        self.server.should_exit = True

    @property
    def lease_lost(self) -> bool:
        return self.lease is not None and self.lease.lost

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def run(self) -> None:
        # what exists now (FastAPI's routes and models) lives as long as the server: keep the
        # collector from walking it again on every full collection under load
        gc.freeze()
        self.server.run(sockets=[self.sock])

    def start(self, timeout: float = 20.0) -> IdentityServer:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("zero-id did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=20)
        self.sock.close()


def bind(listen: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in listen else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((listen, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def make_identity(client: Client, settings: Settings, sealer: Sealer) -> Identity:
    """zero-id's service on ``client``'s namespace; ``sealer`` seals its key ring."""
    store = Store(client)
    store.ping()
    return Identity(store, settings, sealer)


__all__ = ["EmbeddedZdb", "IdentityServer", "Lease", "bind", "connect", "make_identity"]
