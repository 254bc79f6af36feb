"""A real `zos node serve` child and PyPI's 0-core-client driving it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from zeroos.core0.client import Client

from zeroos.common.harness import Child, zos_serve


class Node:
    """A node child process and the folder it keeps its files in."""

    def __init__(self, root: Path, *args: str) -> None:
        self.root = root
        self.data = root / "data"
        self.child = Child(
            zos_serve("node", "--port", "0", "--data", str(self.data), *args),
            root / "ready.json",
            log=root / "node.log",
            name="zos node serve",
        )

    @property
    def port(self) -> int:
        return self.child.port

    @property
    def cert(self) -> Path:
        return self.data / "tls" / "node.crt"

    def client(self, **kwargs: object) -> Client:
        kwargs.setdefault("ssl", False)
        kwargs.setdefault("timeout", 60)
        return Client("127.0.0.1", port=self.port, **kwargs)


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    """Start nodes with the given flags; all stopped (and checked to stop cleanly) at the end."""
    started: list[Node] = []

    def start(*args: str) -> Node:
        node = Node(tmp_path / f"node{len(started)}", *args)
        node.child.start(timeout=60)
        started.append(node)
        return node

    yield start
    for node in started:
        assert node.child.stop() == 0, (node.root / "node.log").read_text()


@pytest.fixture(scope="module")
def dev_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One --dev node the command tests share (each test uses its own job ids and files)."""
    node = Node(tmp_path_factory.mktemp("node"), "--dev")
    node.child.start(timeout=60)
    yield node
    assert node.child.stop() == 0, (node.root / "node.log").read_text()


@pytest.fixture
def client(dev_node: Node) -> Client:
    return dev_node.client()


# a real zero-id (over HTTP, on a real zero-db) signs the tokens of the auth tests
from tests.identity.conftest import (  # noqa: E402
    Actor,
    http,
    ident,
    new_user,
    org_name,
    start_id,
    zdb,
)

__all__ = ["Actor", "Node", "http", "ident", "new_user", "org_name", "start_id", "zdb"]
