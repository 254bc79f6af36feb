"""Port forwards from the host into containers: a TCP relay in the node.

Why in the node and not nftables DNAT: a forward must be reachable from the host itself
(127.0.0.1:PORT), which DNAT only does for loopback with route_localnet switched on host-wide,
and a relay leaves no kernel rule behind when the node or a container goes. The listening socket
is the proof that the port is ours (EADDRINUSE: already taken). A restarted node opens the
forwards of the containers it re-adopts again (the state on disk names them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ...common.log import event
from ..errors import CommandError

log = logging.getLogger("zeroos.node")

CONNECT_TIMEOUT = 10.0
CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


class Forward:
    """One host port relayed to ``target:port``."""

    def __init__(self, listen: str, host_port: int, target: str, port: int) -> None:
        self.listen = listen
        self.host_port = host_port
        self.target = target
        self.port = port
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        try:
            self._server = await asyncio.start_server(
                self._relay, self.listen, self.host_port, reuse_address=True
            )
        except OSError as exc:
            raise CommandError(
                f"cannot forward port {self.host_port}: {exc.strerror or exc}",
                hint="pick another host port",
            ) from exc

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._links.add(client_w)
        try:
            try:
                target_r, target_w = await asyncio.wait_for(
                    asyncio.open_connection(self.target, self.port), CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError) as exc:
                event(log, "forward_refused", port=self.host_port, error=str(exc))
                return
            self._links.add(target_w)
            try:
                await asyncio.gather(_pipe(client_r, target_w), _pipe(target_r, client_w))
            finally:
                self._links.discard(target_w)
                target_w.close()
        finally:
            self._links.discard(client_w)
            client_w.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._links):  # their relays see the end and return
                writer.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None


__all__ = ["Forward"]
