"""A zero-db server run on a node: started as a job through the node's 0-core protocol."""

from __future__ import annotations

import shlex
import time
from typing import Any

from pydantic import BaseModel, Field

from zeroos.robot import RobotError, TemplateBase
from zeroos.zdb import Client, ZdbError


class ZeroDbData(BaseModel):
    """The data of a ZeroDb service."""

    node: str = Field(min_length=1)  # host:port of the node's 0-core endpoint
    node_password: str = ""  # a zero-id JWT when the node is not --dev
    node_tls: bool = False
    port: int = Field(ge=1, le=65535)  # where the zero-db listens (on the node's host)
    data: str = Field(min_length=1)  # its data folder on the node
    admin: str = ""  # its admin password (none: anyone may make namespaces)
    command: str = "zos"  # how the node runs zos (e.g. "python3 -m zeroos.cli.main")
    job: str = ""  # the node's job id while it runs


class ZeroDb(TemplateBase):
    """``install``/``start`` run ``zos zdb serve`` on the node (a ``core.system`` job with the
    service's name) and wait until it answers; ``stop`` kills the job; ``ping`` checks it."""

    template_name = "zero_db"
    version = "0.1.0"
    Data = ZeroDbData
    data: ZeroDbData
    recurring = {"ping": 60.0}

    def _node(self) -> Any:  # 0-core-client is untyped
        from zeroos.core0.client import Client  # type: ignore[import-untyped]  # node drivers only

        host, _, port = self.data.node.rpartition(":")
        return Client(
            host,
            port=int(port),
            password=self.data.node_password,
            ssl=self.data.node_tls,
            timeout=30,
        )

    def _answers(self) -> bool:
        host = self.data.node.rpartition(":")[0]
        try:
            with Client(
                host, self.data.port, admin_password=self.data.admin or None, timeout=2
            ) as c:
                return c.ping()
        except ZdbError:
            return False

    def install(self) -> str:
        """Start the zero-db on the node; its address."""
        return self.start()

    def start(self) -> str:
        """Start the zero-db job if it does not run; wait until it answers (60 s)."""
        node = self._node()
        job = f"zero-db-{self.name}"
        running = {j["cmd"]["id"] for j in node.job.list()}
        if job not in running:
            argv = [
                *shlex.split(self.data.command), "zdb", "serve", "--listen",
                self.data.node.rpartition(":")[0], "--port", str(self.data.port),
                "--data", f"{self.data.data}/data", "--index", f"{self.data.data}/index",
            ]  # fmt: skip
            if self.data.admin:
                argv += ["--admin", self.data.admin]
            handle = node.system(shlex.join(argv), id=job)
            self.logger.info("started job %s on node %s", handle.id, self.data.node)
        self.update(job=job)
        deadline = time.monotonic() + 60
        while not self._answers():
            if job not in {j["cmd"]["id"] for j in node.job.list()}:
                self.state.set("status", "running", "error")
                raise RobotError(f"zero-db job {job} on node {self.data.node} ended at start")
            if time.monotonic() > deadline:
                raise RobotError(f"zero-db on port {self.data.port} did not answer in 60 s")
            time.sleep(0.2)
        self.state.set("status", "running", "ok")
        return f"{self.data.node.rpartition(':')[0]}:{self.data.port}"

    def ping(self) -> bool:
        """Whether the zero-db answers (its state says so)."""
        up = self._answers()
        self.state.set("status", "running", "ok" if up else "error")
        return up

    def stop(self) -> None:
        """Kill the zero-db's job on the node."""
        if self.data.job:
            node = self._node()
            if self.data.job in {j["cmd"]["id"] for j in node.job.list()}:
                node.job.kill(self.data.job)
            self.logger.info("killed job %s", self.data.job)
        self.update(job="")
        self.state.set("status", "running", "error")

    def uninstall(self) -> None:
        """Stop the zero-db."""
        self.stop()

    def delete(self) -> None:
        self.stop()
