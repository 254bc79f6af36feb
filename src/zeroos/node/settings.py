"""The node's settings: one typed object from flags, ``ZOS_NODE_*`` and a config file."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from ..common.settings import PartSettings

DEFAULT_PORT = 6379  # 0-core's: its clients connect there unless told otherwise


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or the name localhost)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class NodeSettings(PartSettings):
    """How a node listens, who may drive it, and where it keeps its files."""

    model_config = SettingsConfigDict(env_prefix="ZOS_NODE_")
    part = "node"

    listen: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)  # 0: any free port (see the ready file)
    org: str | None = None  # a client's token must hold user:memberof:<org>
    id: str | None = None  # zero-id's URL, whose keys check the tokens
    dev: bool = False  # no password at all: loopback only
    data: str = "node-data"  # the TLS certificate and key live here
    ready_file: str | None = None
    runtime: str = "crun"  # the OCI runtime of containers: crun or runc
    bridge: str = "zos0"  # the bridge of containers with nics default
    bridge_cidr: str = "10.213.0.1/16"  # its address on the host (the gateway) and network
    vm_accel: Literal["auto", "kvm", "tcg"] = "auto"  # auto: KVM when a test guest runs on it
    vm_shutdown_timeout: float = Field(30.0, gt=0)  # seconds a guest has to power off
    verbose: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> NodeSettings:
        if self.dev:
            if self.org or self.id:
                raise ValueError("--dev runs without passwords: drop --org and --id")
            if not is_loopback(self.listen):
                raise ValueError(
                    f"--dev is open to anyone: it listens on loopback only, not {self.listen}"
                )
        elif not (self.org and self.id):
            raise ValueError("a node needs --org ORG and --id URL (or --dev, open on loopback)")
        return self


__all__ = ["DEFAULT_PORT", "NodeSettings", "is_loopback"]
