"""A VM on a node, made through the node's 0-core protocol (kvm.create) from an flist holding
a kernel and initramfs (/boot/boot.yaml) or from their paths on the node."""

from __future__ import annotations

import socket
from typing import Any, Literal

import httpx
from pydantic import Field, model_validator

from zeroos.robot import RobotError, TemplateBase
from zeroos.robot.builtin.serve import NodeData, node_call, set_running, wait_answering

WAIT = 120.0  # seconds the node may take to answer kvm.create, kvm.list or kvm.destroy
SHUTDOWN_WAIT = 900.0  # kvm.shutdown waits for the guest up to the node's --vm-shutdown-timeout
PROBE_SECONDS = 2.0  # how long one look at the guest's port may take
LOOKS_PER_CHECK = 5  # looks at the port between two checks that the VM still runs


class NodeVmData(NodeData):
    """The data of a NodeVm service: what to boot, its size, its port forwards."""

    flist: str = ""  # an flist with /boot/boot.yaml (its URL or its path on the node)
    kernel: str = ""  # or the kernel's path on the node
    initrd: str = ""  # the initramfs beside that kernel
    cmdline: str = ""  # added to the kernel's command line
    cpu: int = Field(1, ge=1, le=64)
    memory: int = Field(512, ge=32)  # MiB
    ports: dict[int, int] = Field(default_factory=dict)  # node's port -> the guest's port
    ready_port: int = 0  # the guest port that must answer before install is done [the first]
    ready: Literal["http", "banner"] = "http"  # how it answers: any HTTP reply, or bytes first
    boot_timeout: float = Field(240.0, gt=0, le=900)  # seconds the guest may take to answer
    uuid: str = ""  # the node's VM uuid while it runs

    @model_validator(mode="after")
    def _boots_one_thing(self) -> NodeVmData:
        if bool(self.flist) == bool(self.kernel):
            raise ValueError("give the VM an flist or a kernel (one of them)")
        if self.initrd and not self.kernel:
            raise ValueError("an initrd needs its kernel")
        if self.ready_port and self.ready_port not in self.ports.values():
            raise ValueError(f"ready_port {self.ready_port} is not forwarded (see ports)")
        return self


class NodeVm(TemplateBase):
    """``install``/``start`` create the VM (``kvm.create``) unless it runs, then wait until the
    guest answers on its forwarded port; ``stop`` shuts it down (``kvm.shutdown``: ACPI, then
    the node ends it after its --vm-shutdown-timeout); ``uninstall`` destroys it
    (``kvm.destroy``). A VM shut down is gone from the node (it has no ``kvm.start``), so
    ``start`` creates it again from the same data: a new uuid, the guest boots afresh."""

    template_name = "node_vm"
    version = "0.1.0"
    Data = NodeVmData
    data: NodeVmData
    recurring = {"ping": 60.0}
    timeout = SHUTDOWN_WAIT + 60.0  # boot_timeout and a shutdown fit (the robot's may not)

    def _vms(self) -> list[str]:
        listed: list[dict[str, Any]] = node_call(self.data, "kvm.list", {}, WAIT) or []
        return [vm["uuid"] for vm in listed]

    def _runs(self) -> bool:
        return bool(self.data.uuid) and self.data.uuid in self._vms()

    def _ready_forward(self) -> int | None:
        """The node's port forwarded to the guest port that must answer (None: no forward)."""
        wanted = self.data.ready_port or next(iter(self.data.ports.values()), 0)
        return next((h for h, g in self.data.ports.items() if g == wanted), None)

    @property
    def host(self) -> str:
        """The node's host: where the forwarded ports listen."""
        return self.data.node.rpartition(":")[0]

    def answers(self) -> bool:
        """Whether the guest answers on its ready port (through the node's forward). QEMU's
        user-mode net accepts a connection before the guest does, so an open port alone says
        nothing: an HTTP reply, or the first bytes of a server that speaks first, does."""
        port = self._ready_forward()
        if port is None:
            return self._runs()
        if self.data.ready == "http":
            try:
                httpx.get(f"http://{self.host}:{port}/", timeout=PROBE_SECONDS)
            except httpx.HTTPError:
                return False
            return True
        try:
            with socket.create_connection((self.host, port), timeout=PROBE_SECONDS) as sock:
                return bool(sock.recv(1))
        except OSError:
            return False

    def install(self) -> str:
        """Create the VM and wait until the guest answers; its uuid on the node."""
        return self.start()

    def start(self) -> str:
        """Create the VM unless it runs; wait until the guest answers; its uuid."""
        if not self._runs():
            args: dict[str, object] = {
                "name": self.name,
                "cpu": self.data.cpu,
                "memory": self.data.memory,
                "nics": [{"type": "default"}],
                "port": {str(host): guest for host, guest in self.data.ports.items()},
                "cmdline": self.data.cmdline,
            }
            if self.data.flist:
                args["flist"] = self.data.flist
            else:
                args["kernel"] = self.data.kernel
                if self.data.initrd:
                    args["initrd"] = self.data.initrd
            try:
                uuid = str(node_call(self.data, "kvm.create", args, WAIT))
            except RobotError:
                set_running(self, False)
                raise
            self.update(uuid=uuid)
            self.logger.info("created VM %s on node %s", uuid, self.data.node)
        wait_answering(
            self,
            ended=lambda: not self._runs(),
            timeout=self.data.boot_timeout,
            what=f"VM {self.data.uuid} on node {self.data.node} (port {self._ready_forward()})",
            every=0.5,
            checks_every=LOOKS_PER_CHECK,  # a look at the port is cheaper than kvm.list
        )
        return self.data.uuid

    def ping(self) -> bool:
        """Whether the guest answers (its state says so)."""
        up = bool(self.data.uuid) and self.answers()
        set_running(self, up)
        return up

    def stop(self) -> None:
        """Shut the VM down: the guest powers off (ACPI), or the node ends it after its timeout."""
        if self._runs():
            said = node_call(self.data, "kvm.shutdown", {"uuid": self.data.uuid}, SHUTDOWN_WAIT)
            how = "powered off" if (said or {}).get("powered_off") else "ended by the node"
            self.logger.info("VM %s shut down (%s)", self.data.uuid, how)
        self.update(uuid="")
        set_running(self, False)

    def uninstall(self) -> None:
        """Destroy the VM: its process ends at once, nothing of it stays on the node."""
        if self._runs():
            node_call(self.data, "kvm.destroy", {"uuid": self.data.uuid}, WAIT)
            self.logger.info("destroyed VM %s", self.data.uuid)
        self.update(uuid="")
        set_running(self, False)

    def delete(self) -> None:
        self.uninstall()
