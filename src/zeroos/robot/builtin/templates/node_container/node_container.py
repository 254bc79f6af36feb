"""A container on a node, made from an flist through the node's 0-core protocol (corex.create)."""

from __future__ import annotations

import json

from pydantic import Field

from zeroos.robot import RobotError, TemplateBase
from zeroos.robot.builtin.serve import NODE_ERRORS, NodeData, node_client

WAIT = 120  # seconds the node may take to make or end a container (it mounts the flist)


class NodeContainerData(NodeData):
    """The data of a NodeContainer service."""

    flist: str = Field(min_length=1)  # the flist's URL or its path on the node
    hostname: str = ""
    env: dict[str, str] = Field(default_factory=dict)
    ports: dict[int, int] = Field(default_factory=dict)  # node's port -> the container's port
    container: int = 0  # the node's container id while it exists


class NodeContainer(TemplateBase):
    """``install`` makes the container (``corex.create``) unless it exists; ``uninstall``
    terminates it (``corex.terminate``)."""

    template_name = "node_container"
    version = "0.1.0"
    Data = NodeContainerData
    data: NodeContainerData

    def _call(self, command: str, args: dict[str, object]) -> str:
        try:
            result = node_client(self.data).raw(command, args).get(WAIT)
        except NODE_ERRORS as exc:
            raise RobotError(f"node {self.data.node} refused {command}: {exc}") from exc
        if result.state != "SUCCESS":
            raise RobotError(f"node {self.data.node} refused {command}: {result.data}")
        return str(result.data)

    def _exists(self) -> bool:
        try:
            listed = node_client(self.data).container.list()
        except NODE_ERRORS as exc:
            raise RobotError(f"node {self.data.node} refused corex.list: {exc}") from exc
        return str(self.data.container) in listed

    def install(self) -> int:
        """Make the container on the node; its id there."""
        if self.data.container and self._exists():
            return self.data.container
        args: dict[str, object] = {
            "root": self.data.flist,
            "env": self.data.env,
            "port": {str(host): inside for host, inside in self.data.ports.items()},
        }
        if self.data.hostname:
            args["hostname"] = self.data.hostname
        try:
            container = int(json.loads(self._call("corex.create", args)))
        except RobotError:
            self.state.set("status", "running", "error")
            raise
        self.update(container=container)
        self.state.set("status", "running", "ok")
        return container

    def uninstall(self) -> None:
        """Terminate the container."""
        if self.data.container and self._exists():
            self._call("corex.terminate", {"container": self.data.container})
            self.logger.info("terminated container %s", self.data.container)
        self.update(container=0)
        self.state.set("status", "running", "error")

    def delete(self) -> None:
        self.uninstall()
