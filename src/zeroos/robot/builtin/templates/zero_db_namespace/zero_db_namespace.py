"""A namespace on a zero-db server service of the same robot, made with our zero-db client."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

from zeroos.robot import RobotError, TemplateBase
from zeroos.zdb import Client, ZdbError


class ZeroDbNamespaceData(BaseModel):
    """The data of a ZeroDbNamespace service."""

    zerodb: str = Field(min_length=1)  # the name of the zero_db service it lives on
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    password: str = ""
    size: int = Field(0, ge=0)  # maximum bytes (0: no limit)
    public: bool = True  # readable without the password


class ZeroDbNamespace(TemplateBase):
    """``install`` makes the namespace (password, size) on the ``zerodb`` service's server
    once that one runs; ``uninstall`` drops it; ``url`` tells how to reach it."""

    template_name = "zero_db_namespace"
    version = "0.1.0"
    Data = ZeroDbNamespaceData
    data: ZeroDbNamespaceData

    def _server(self) -> tuple[str, int, str]:
        """host, port and admin password of the zero_db service, once it runs (60 s)."""
        deadline = time.monotonic() + 60
        while True:
            found = self.api.services.services(name=self.data.zerodb)
            if not found:
                raise RobotError(f"no zero_db service {self.data.zerodb!r}")
            server = found[0]
            up = any(
                e.category == "status" and e.tag == "running" and e.state.value == "ok"
                for e in server.state
            )
            if up:
                host = str(server.data["node"]).rpartition(":")[0]
                return host, int(server.data["port"]), str(server.data.get("admin", ""))
            if time.monotonic() > deadline:
                raise RobotError(f"zero_db service {self.data.zerodb!r} is not running")
            time.sleep(0.2)

    def _admin(self) -> Client:
        host, port, admin = self._server()
        return Client(host, port, admin_password=admin or None, timeout=10)

    def install(self) -> str:
        """Make the namespace (again: its settings applied); its zdb:// URL."""
        try:
            with self._admin() as client:
                if self.data.name not in client.nslist():
                    client.nsnew(self.data.name)
                if self.data.password:
                    client.nsset(self.data.name, "password", self.data.password)
                client.nsset(self.data.name, "public", self.data.public)
                if self.data.size:
                    client.nsset(self.data.name, "maxsize", self.data.size)
        except ZdbError as exc:
            raise RobotError(f"namespace {self.data.name}: {exc}") from exc
        self.state.set("actions", "install", "ok")
        self.logger.info("namespace %s ready", self.data.name)
        return self.url()

    def url(self) -> str:
        """``zdb://host:port/namespace`` (without its password)."""
        host, port, _ = self._server()
        return f"zdb://{host}:{port}/{self.data.name}"

    def uninstall(self) -> None:
        """Drop the namespace and everything in it."""
        try:
            with self._admin() as client:
                if self.data.name in client.nslist():
                    client.nsdel(self.data.name)
        except ZdbError as exc:
            raise RobotError(f"namespace {self.data.name}: {exc}") from exc
        self.state.delete("actions", "install")
