"""A ``zos <part> serve`` run on a node as a 0-core ``core.system`` job: the shared body of the
built-in templates that start a part (zero-db, zero-id, hub) and wait until it answers."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import httpx
import redis
from pydantic import BaseModel, Field

from zeroos.robot import RobotError, ServiceState, TemplateBase

START_SECONDS = 60.0  # how long a started part may take to answer


class NodeData(BaseModel):
    """Which node a built-in template drives, and how to reach its 0-core endpoint."""

    node: str = Field(min_length=1)  # host:port of the node's 0-core endpoint
    node_password: str = ""  # a zero-id JWT when the node is not --dev
    node_tls: bool = False


def node_client(data: NodeData) -> Any:  # 0-core-client is untyped
    """A 0-core client of ``data``'s node."""
    from zeroos.core0.client import Client  # type: ignore[import-untyped]  # node drivers only

    host, _, port = data.node.rpartition(":")
    return Client(host, port=int(port), password=data.node_password, ssl=data.node_tls, timeout=30)


NODE_ERRORS = (redis.RedisError, RuntimeError, OSError)  # what 0-core-client raises when refused


def node_call(data: NodeData, command: str, args: dict[str, object], wait: float) -> Any:
    """Run ``command`` on ``data``'s node and wait ``wait`` s for it; its result decoded from
    JSON. :class:`RobotError` with the node's reason when the node refuses it."""
    try:
        result = node_client(data).raw(command, args).get(wait)
    except NODE_ERRORS as exc:
        raise RobotError(f"node {data.node} refused {command}: {exc}") from exc
    if result.state != "SUCCESS":
        raise RobotError(f"node {data.node} refused {command}: {result.data}")
    return json.loads(result.data) if result.data else None


class ServeData(NodeData):
    """What every part served on a node needs: the node, where the part listens, its data."""

    port: int = Field(ge=1, le=65535)  # where the part listens (on the node's host)
    data: str = Field(min_length=1)  # its data folder on the node
    command: str = "zos"  # how the node runs zos (e.g. "python3 -m zeroos.cli.main")
    job: str = ""  # the node's job id while it runs


def http_answers(url: str) -> bool:
    """Whether ``url`` answers 200 within 2 s."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Running(Protocol):
    """A service with a state: what :func:`set_running` writes to."""

    state: ServiceState


def set_running(service: Running, ok: bool) -> None:
    """Say whether the service runs: its ``status:running`` state, ok or error (0-robot's)."""
    service.state.set("status", "running", "ok" if ok else "error")


class Answering(Running, Protocol):
    """A template whose service answers when it is up (its state says so)."""

    def answers(self) -> bool: ...


def wait_answering(
    service: Answering,
    ended: Callable[[], bool],
    timeout: float,
    what: str,
    every: float = 0.2,
    checks_every: int = 1,
) -> None:
    """Poll ``service.answers()`` every ``every`` s until it is True (status:running ok).
    :class:`RobotError` naming ``what`` (status:running error) when ``ended()`` — asked every
    ``checks_every`` looks — says it ended, or after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    looks = 0
    while not service.answers():
        looks += 1
        if looks % checks_every == 0 and ended():
            set_running(service, False)
            raise RobotError(f"{what} ended at start")
        if time.monotonic() > deadline:
            set_running(service, False)
            raise RobotError(f"{what} did not answer in {timeout:g} s")
        time.sleep(every)
    set_running(service, True)


class ServeOnNode(TemplateBase):
    """``install``/``start`` run ``zos <part> serve`` on the node (a ``core.system`` job named
    after the service) and wait until it answers; ``stop`` kills the job; ``ping`` checks it.
    Subclasses give the part's ``label``, its ``serve_args`` and how it ``answers``."""

    label: ClassVar[str] = ""  # the job's prefix and the part's name in errors, e.g. "zero-db"
    data: ServeData
    recurring = {"ping": 60.0}

    @property
    def host(self) -> str:
        """The node's host: where the part listens."""
        return self.data.node.rpartition(":")[0]

    def serve_args(self) -> list[str]:
        """The arguments after ``zos``: e.g. ``["zdb", "serve", "--port", ...]``."""
        raise NotImplementedError

    def answers(self) -> bool:
        """Whether the part answers."""
        raise NotImplementedError

    def address(self) -> str:
        """What ``start`` returns: where the part answers."""
        return f"{self.host}:{self.data.port}"

    def _node(self) -> Any:  # 0-core-client is untyped
        return node_client(self.data)

    def _jobs(self, node: Any) -> set[str]:
        try:
            return {j["cmd"]["id"] for j in node.job.list()}
        except NODE_ERRORS as exc:
            raise RobotError(f"node {self.data.node} refused job.list: {exc}") from exc

    def install(self) -> str:
        """Start the part on the node; its address."""
        return self.start()

    def start(self) -> str:
        """Start the part's job if it does not run; wait until it answers."""
        node = self._node()
        job = f"{self.label}-{self.name}"
        if job not in self._jobs(node):
            argv = [*shlex.split(self.data.command), *self.serve_args()]
            try:
                handle = node.system(shlex.join(argv), id=job)
            except NODE_ERRORS as exc:
                set_running(self, False)
                raise RobotError(f"node {self.data.node} refused to start {job}: {exc}") from exc
            self.logger.info("started job %s on node %s", handle.id, self.data.node)
        self.update(job=job)
        wait_answering(
            self,
            ended=lambda: job not in self._jobs(node),
            timeout=START_SECONDS,
            what=f"{self.label} job {job} on node {self.data.node} (port {self.data.port})",
        )
        return self.address()

    def ping(self) -> bool:
        """Whether the part answers (its state says so)."""
        up = self.answers()
        set_running(self, up)
        return up

    def stop(self) -> None:
        """Kill the part's job on the node."""
        if self.data.job:
            node = self._node()
            if self.data.job in self._jobs(node):
                try:
                    node.job.kill(self.data.job)
                except NODE_ERRORS as exc:
                    raise RobotError(
                        f"node {self.data.node} refused to kill {self.data.job}: {exc}"
                    ) from exc
            self.logger.info("killed job %s", self.data.job)
        self.update(job="")
        set_running(self, False)

    def uninstall(self) -> None:
        """Stop the part."""
        self.stop()

    def delete(self) -> None:
        self.stop()


__all__ = [
    "NODE_ERRORS",
    "START_SECONDS",
    "Answering",
    "NodeData",
    "Running",
    "ServeData",
    "ServeOnNode",
    "http_answers",
    "node_call",
    "node_client",
    "set_running",
    "wait_answering",
]
