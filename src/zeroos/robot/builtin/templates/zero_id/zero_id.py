"""A zero-id server run on a node: started as a job through the node's 0-core protocol."""

from __future__ import annotations

from pydantic import Field

from zeroos.robot.builtin.serve import ServeData, ServeOnNode, http_answers


class ZeroIdData(ServeData):
    """The data of a ZeroId service."""

    port: int = Field(8080, ge=1, le=65535)  # where zero-id listens (on the node's host)
    data: str = Field("/var/lib/zero-id", min_length=1)  # its private folder on the node


class ZeroId(ServeOnNode):
    """``install``/``start`` run ``zos id serve`` on the node (a ``core.system`` job with the
    service's name) and wait until its JWKS answers; ``stop`` kills the job; ``ping`` checks it."""

    template_name = "zero_id"
    version = "0.1.0"
    label = "zero-id"
    Data = ZeroIdData
    data: ZeroIdData

    def serve_args(self) -> list[str]:
        return [
            "id", "serve", "--listen", self.host, "--port", str(self.data.port),
            "--data", self.data.data,
        ]  # fmt: skip

    def address(self) -> str:
        return f"http://{self.host}:{self.data.port}"

    def answers(self) -> bool:
        return http_answers(f"{self.address()}/.well-known/jwks.json")
