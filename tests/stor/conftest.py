"""Real zero-db servers for the zero-stor tests, and configurations over them."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from zeroos.stor import Stor, StorConfig, parse_config
from zeroos.testing import ZdbProcess
from zeroos.zdb import Client

PASSWORD = "secret"
KEY = "ab" * 32
_names = itertools.count()


class Cluster:
    """Several zero-db servers started side by side."""

    def __init__(self, root: Path, count: int) -> None:
        self.servers = [ZdbProcess(root / f"zdb{i}") for i in range(count)]
        self._start_all(self.servers)

    @staticmethod
    def _start_all(servers: list[ZdbProcess]) -> None:
        # start in parallel: launch all, then wait for each log line
        import threading

        errors: list[BaseException] = []

        def run(server: ZdbProcess) -> None:
            try:
                server.start()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(s,)) for s in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def admin(self, i: int) -> Client:
        return Client(port=self.servers[i].port, timeout=10)

    def create(self, namespace: str, servers: list[int] | None = None, maxsize: int = 0) -> None:
        for i in servers if servers is not None else range(len(self.servers)):
            with self.admin(i) as c:
                c.nsnew(namespace)
                c.nsset(namespace, "password", PASSWORD)
                if maxsize:
                    c.nsset(namespace, "maxsize", maxsize)

    def client(self, i: int, namespace: str) -> Client:
        return Client(port=self.servers[i].port, namespace=namespace, password=PASSWORD, timeout=10)

    def keys(self, i: int, namespace: str) -> list[bytes]:
        with self.client(i, namespace) as c:
            return [e.key for e in c.scan_iter()]

    def kill(self, i: int) -> None:
        self.servers[i].kill()

    def wipe(self, i: int) -> None:
        """kill -9 a server, delete its files, and start it again empty (on the same port)."""
        server = self.servers[i]
        server.kill()
        shutil.rmtree(server.datadir, ignore_errors=True)
        shutil.rmtree(server.indexdir, ignore_errors=True)
        server.start()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def config_dict(
    cluster: Cluster,
    *,
    servers: list[int] | None = None,
    pipeline: dict[str, Any] | None = None,
    meta_encryption: bool = False,
    maxsize: int = 0,
    full: list[int] | None = None,
) -> dict[str, Any]:
    """A fresh zero-stor namespace on the cluster: its own data and meta namespaces."""
    name = f"t{next(_names)}x{os.getpid()}"
    chosen = list(range(len(cluster.servers))) if servers is None else servers
    cluster.create(name, chosen, maxsize)
    cluster.create(name + "m", [chosen[0]])
    cfg: dict[str, Any] = {
        "namespace": name,
        "password": PASSWORD,
        "timeout": 30,  # generous: the machine running the tests may be loaded
        "workers": 4,
        "datastor": {
            "shards": [f"127.0.0.1:{cluster.servers[i].port}" for i in chosen],
            "pipeline": pipeline
            if pipeline is not None
            else {
                "block_size": 65536,
                "compression": {"type": "zstd", "level": 3},
                "encryption": {"type": "aes-gcm", "private_key": KEY},
                "distribution": {"data_shards": 4, "parity_shards": 2},
            },
        },
        "metastor": {
            "shards": [
                {"address": f"127.0.0.1:{cluster.servers[chosen[0]].port}", "namespace": name + "m"}
            ]
        },
    }
    if meta_encryption:
        cfg["metastor"]["encryption"] = {"type": "aes-gcm", "private_key": "cd" * 32}
    return cfg


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Six servers shared by the tests that do not stop them (each uses its own namespaces)."""
    c = Cluster(tmp_path_factory.mktemp("stor-cluster"), 6)
    yield c
    c.stop()


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Callable[[int], Cluster]]:
    """Fresh servers for a test that kills or wipes them."""
    made: list[Cluster] = []

    def make(count: int = 6) -> Cluster:
        c = Cluster(tmp_path / f"cluster{len(made)}", count)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


@pytest.fixture
def make_stor(cluster: Cluster) -> Iterator[Callable[..., Stor]]:
    """Build Stor clients on the shared cluster (closed after the test)."""
    opened: list[Stor] = []

    def make(cfg: dict[str, Any] | StorConfig | None = None, **kwargs: Any) -> Stor:
        if cfg is None:
            cfg = config_dict(cluster, **kwargs)
        config = cfg if isinstance(cfg, StorConfig) else parse_config(cfg)
        stor = Stor(config)
        opened.append(stor)
        return stor

    yield make
    for stor in opened:
        stor.close()
