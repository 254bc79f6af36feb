"""A container on a node, made from an flist through the node's 0-core protocol (corex.create)."""

from __future__ import annotations

from pydantic import Field

from zeroos.robot import RobotError, TemplateBase
from zeroos.robot.builtin.serve import (
    NODE_ERRORS,
    NodeData,
    node_call,
    node_client,
    set_running,
)

WAIT = 120  # seconds the node may take to make or end a container (it mounts the flist)


class NodeContainerData(NodeData):
    """The data of a NodeContainer service."""

    flist: str = Field(min_length=1)  # the flist's URL or its path on the node
    hostname: str = ""
    env: dict[str, str] = Field(default_factory=dict)
    ports: dict[int, int] = Field(default_factory=dict)  # node's port -> the container's port
    mounts: dict[str, str] = Field(default_factory=dict)  # node's folder -> path inside
    init: list[str] = Field(default_factory=list)  # the container's process [node's: a shell]
    container: int = 0  # the node's container id while it exists


class NodeContainer(TemplateBase):
    """``install``/``start`` make the container (``corex.create``) unless it exists;
    ``stop``/``uninstall`` terminate it (``corex.terminate``).

    The node cannot stop a container and start it again (0-core has no ``corex.stop``), so
    ``stop`` terminates it and ``start`` creates it again from the same flist and data: a new
    container id, and its writable layer starts afresh. What must outlive a stop belongs in
    ``mounts`` (folders of the node, kept as they are).
    """

    template_name = "node_container"
    version = "0.1.0"
    Data = NodeContainerData
    data: NodeContainerData

    def _exists(self) -> bool:
        try:
            listed = node_client(self.data).container.list()
        except NODE_ERRORS as exc:
            raise RobotError(f"node {self.data.node} refused corex.list: {exc}") from exc
        return str(self.data.container) in listed

    def install(self) -> int:
        """Make the container on the node; its id there."""
        return self.start()

    def start(self) -> int:
        """Make the container again unless it exists; its id."""
        if self.data.container and self._exists():
            return self.data.container
        args: dict[str, object] = {
            "root": self.data.flist,
            "env": self.data.env,
            "port": {str(host): inside for host, inside in self.data.ports.items()},
            "mount": self.data.mounts,
        }
        if self.data.hostname:
            args["hostname"] = self.data.hostname
        if self.data.init:
            args["init"] = self.data.init
        try:
            container = int(node_call(self.data, "corex.create", args, WAIT))
        except RobotError:
            set_running(self, False)
            raise
        self.update(container=container)
        set_running(self, True)
        return container

    def stop(self) -> None:
        """Terminate the container (see the class: the node cannot stop one and keep it)."""
        self.uninstall()

    def uninstall(self) -> None:
        """Terminate the container."""
        if self.data.container and self._exists():
            node_call(self.data, "corex.terminate", {"container": self.data.container}, WAIT)
            self.logger.info("terminated container %s", self.data.container)
        self.update(container=0)
        set_running(self, False)

    def delete(self) -> None:
        self.uninstall()
