"""Run zero-id: its zero-db (embedded or given), the service, and uvicorn.

Without ``--zdb``, zero-id starts its own zero-db as a child process (``zos zdb serve`` on a unix
socket in ``DATA``, which is 0700, and a free loopback port; files in ``DATA/zdb-data`` and
``DATA/zdb-index``; a random admin password, and a random password on zero-id's namespace, both
kept in ``DATA/zdb.secret``, 0600). A child process rather than a thread: zero-db runs its own
event loop and signal handling, stays crash-safe on its own, and is used only through its
public client, as any other part would. The child is stopped with zero-id (after it, in a
process group of its own so that Ctrl-C reaches zero-id only), and is told by the kernel to stop
if zero-id dies first (PR_SET_PDEATHSIG). It is started by the shared harness
(:mod:`zeroos.common.harness`) and is ready when its ready file (``DATA/zdb.ready``) appears.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from ..common.asgi import AsgiServer
from ..common.harness import Child, HarnessError, zos_serve
from ..common.service import bind_tcp
from ..zdb.client import Client, parse_url
from .app import create_app
from .errors import StorageUnavailable
from .lease import Lease
from .sealed import Sealer, SecretFileError, private_dir, read_or_create
from .service import Identity, Settings
from .store import DEFAULT_NAMESPACE, Store, open_namespace, protect_namespace

log = logging.getLogger("zeroos.identity")
_child_log = logging.getLogger("zeroos.identity.zdb")
# the child's lines: `ts=... level=info logger=zeroos.zdb <fields>` (see zeroos.common.log)
_CHILD_LINE: Final = re.compile(r"^ts=\S+ level=(\w+) logger=\S+ (.*)$")
_SOCKET_PATH_MAX: Final = 100  # a unix socket path must fit in 108 bytes


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
        self.child: Child | None = None

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
        argv = zos_serve(
            "zdb",
            "--port",
            "0",
            "--socket",
            str(self.socket),
            "--data",
            str(self.root / "zdb-data"),
            "--index",
            str(self.root / "zdb-index"),
        )
        child = Child(
            argv,
            self.root / "zdb.ready",
            env={**os.environ, "ZOS_ZDB_ADMIN": self.admin},
            on_line=relay_child_line,
            # a group of its own: Ctrl-C in a terminal reaches zero-id only, which then stops
            # it last (after deleting its lease)
            die_with_parent=True,
            name="the embedded zero-db",
        )
        try:
            child.start(timeout)
        except HarnessError as exc:
            raise StorageUnavailable(f"{exc} (see its log above)") from exc
        self.child = child
        self.port = child.port
        return self

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
        child, self.child = self.child, None
        code = 0 if child is None else child.stop()
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


class IdentityCollector(Collector):
    """zero-id's own counters beside every part's at /metrics: tokens issued, logins failed
    and refused (429), read when Prometheus asks."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration: the names are zero-id's own

    def collect(self) -> Iterator[Metric]:
        for name, value in self.identity.metrics().items():
            yield CounterMetricFamily(f"zeroid_{name}", _HELP.get(name, name), value=value)


_HELP = {
    "tokens_issued": "Tokens zero-id signed.",
    "logins_failed": "Logins refused for a wrong secret.",
    "logins_throttled": "Logins refused (429) while an address or user was throttled.",
}


class IdentityServer(AsgiServer):
    """zero-id on a bound socket (:class:`zeroos.common.asgi.AsgiServer`); it stops on its own
    when ``lease`` is lost."""

    def __init__(
        self,
        identity: Identity,
        sock: socket.socket,
        *,
        verbose: bool = False,
        lease: Lease | None = None,
        trusted_proxies: str = "",
        ready_file: str | Path | None = None,
    ) -> None:
        """``trusted_proxies``: comma-separated addresses whose X-Forwarded-For is believed
        (none by default: a local client could pick the address its failed logins are
        throttled under)."""
        super().__init__(
            create_app(identity),
            sock,
            part="id",
            ready_file=ready_file,
            verbose=verbose,
            trusted_proxies=trusted_proxies,
        )
        self.identity = identity
        self.lease = lease
        self.metrics.registry.register(IdentityCollector(identity))
        if lease is not None:
            # another zero-id took the namespace: this one's record cache may be stale, stop
            lease.on_lost(self.shutdown)

    @property
    def lease_lost(self) -> bool:
        return self.lease is not None and self.lease.lost

    def run(self) -> None:
        """Serve until stopped (see :meth:`AsgiServer.run`)."""
        # what exists now (FastAPI's routes and models) lives as long as the server: keep the
        # collector from walking it again on every full collection under load
        gc.freeze()
        super().run()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the thread :meth:`start` began, and close the socket."""
        try:
            super().stop(timeout)
        finally:
            self.sock.close()


def make_identity(client: Client, settings: Settings, sealer: Sealer) -> Identity:
    """zero-id's service on ``client``'s namespace; ``sealer`` seals its key ring."""
    store = Store(client)
    store.ping()
    return Identity(store, settings, sealer)


__all__ = ["EmbeddedZdb", "IdentityServer", "Lease", "bind_tcp", "connect", "make_identity"]
