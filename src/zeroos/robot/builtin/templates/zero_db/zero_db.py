"""A zero-db server run on a node: started as a job through the node's 0-core protocol."""

from __future__ import annotations

from zeroos.robot.builtin.serve import ServeData, ServeOnNode
from zeroos.zdb import Client, ZdbError


class ZeroDbData(ServeData):
    """The data of a ZeroDb service."""

    admin: str = ""  # its admin password (none: anyone may make namespaces)


class ZeroDb(ServeOnNode):
    """``install``/``start`` run ``zos zdb serve`` on the node (a ``core.system`` job with the
    service's name) and wait until it answers; ``stop`` kills the job; ``ping`` checks it."""

    template_name = "zero_db"
    version = "0.1.0"
    label = "zero-db"
    Data = ZeroDbData
    data: ZeroDbData

    def serve_args(self) -> list[str]:
        argv = [
            "zdb", "serve", "--listen", self.host, "--port", str(self.data.port),
            "--data", f"{self.data.data}/data", "--index", f"{self.data.data}/index",
        ]  # fmt: skip
        return argv + (["--admin", self.data.admin] if self.data.admin else [])

    def answers(self) -> bool:
        try:
            with Client(
                self.host, self.data.port, admin_password=self.data.admin or None, timeout=2
            ) as c:
                return c.ping()
        except ZdbError:
            return False
