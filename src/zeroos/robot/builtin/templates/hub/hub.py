"""A zero-hub run on a node: started as a job through the node's 0-core protocol."""

from __future__ import annotations

from pydantic import Field

from zeroos.robot.builtin.serve import ServeData, ServeOnNode, http_answers


class HubData(ServeData):
    """The data of a Hub service (its block store and zero-id are the embedded ones)."""

    port: int = Field(5555, ge=1, le=65535)  # where the hub listens (on the node's host)
    data: str = Field("/var/lib/zero-hub", min_length=1)  # its flists and embedded servers
    seed: bool = True  # build zeroos/zero-db.fl at start (as `zos hub serve` does)


class Hub(ServeOnNode):
    """``install``/``start`` run ``zos hub serve`` on the node (a ``core.system`` job with the
    service's name) and wait until ``/api/flist`` answers; ``stop`` kills the job; ``ping``
    checks it."""

    template_name = "hub"
    version = "0.1.0"
    label = "hub"
    Data = HubData
    data: HubData

    def serve_args(self) -> list[str]:
        return [
            "hub", "serve", "--listen", self.host, "--port", str(self.data.port),
            "--data", self.data.data, "--seed" if self.data.seed else "--no-seed",
        ]  # fmt: skip

    def address(self) -> str:
        return f"http://{self.host}:{self.data.port}"

    def answers(self) -> bool:
        return http_answers(f"{self.address()}/api/flist")
