"""The next container's network, made ahead while the node waits for it.

A network namespace, a veth and an address cost a container start more than its runtime's own
work on the way to its process (three `ip` runs): after each start with a network the node makes
the next one's in the background, named after the container id it will have, and the next start
takes it as its own. One at a time; its address is taken from the moment it is chosen. The node
removes it when it stops; the one a node killed with -9 left (named in a file under the node's
data) is removed by the next node as it starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ...common.log import event
from ..errors import CommandError
from . import network

log = logging.getLogger("zeroos.node")


def netns_name(cid: str) -> str:
    return f"zos-{cid}"


def veth_name(cid: str) -> str:
    return f"zv{cid[-10:]}"


def new_cid() -> str:
    return f"zos{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class Spare:
    """A network made ahead: namespace zos-CID, its eth0 at ``ip``, plugged into the bridge by
    veth zv... (the names a container of that cid has)."""

    cid: str
    ip: str


class Spares:
    """The one network a node keeps made ahead; ``plug(cid, ip)`` makes one, ``next_ip()``
    chooses a free address (synchronously: nothing else takes one in between)."""

    def __init__(
        self,
        file: Path,
        bridge: str,
        plug: Callable[[str, str], Path],
        next_ip: Callable[[], str],
    ) -> None:
        self.file = file
        self.bridge = bridge
        self._plug = plug
        self._next_ip = next_ip
        self._spare: Spare | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def reserved_ip(self) -> str | None:
        """The address of the network made (or being made) ahead."""
        return self._spare.ip if self._spare is not None else None

    def refill(self) -> None:
        """Start making the next container's network, unless one is made or being made."""
        if self._spare is None and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._make())

    async def _make(self) -> None:
        spare = Spare(new_cid(), self._next_ip())
        self._spare = spare
        self.file.write_text(json.dumps(asdict(spare)))
        try:
            await asyncio.to_thread(self._plug, spare.cid, spare.ip)
        except CommandError as exc:  # the next start makes its own, as it would anyway
            event(log, "network_spare_failed", level=logging.WARNING, error=exc)
            await asyncio.to_thread(self.drop)
            return
        event(log, "network_spare_made", cid=spare.cid, ip=spare.ip)

    async def take(self) -> Spare | None:
        """The network made ahead, now the caller's (waited for when still being made: it is
        ready sooner than one made anew); None when there is none, or when it is no longer
        plugged into the bridge (then removed)."""
        if self._spare is not None and self._task is not None:
            await asyncio.shield(self._task)
        spare = self._spare
        if spare is None:
            return None
        master = Path("/sys/class/net", veth_name(spare.cid), "master")
        usable = network.netns_path(netns_name(spare.cid)).exists() and master.exists()
        if not usable or master.resolve().name != self.bridge:
            await asyncio.to_thread(self.drop)
            return None
        self._spare = None
        self.file.unlink(missing_ok=True)
        return spare

    def drop(self) -> None:
        """The network made ahead removed."""
        if self._spare is not None:
            network.delete_link(veth_name(self._spare.cid))
            network.delete_netns(netns_name(self._spare.cid))
            self._spare = None
        self.file.unlink(missing_ok=True)

    def drop_old(self) -> None:
        """What a node killed before it could stop left made ahead: removed."""
        try:
            self._spare = Spare(**json.loads(self.file.read_text()))
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError) as exc:
            event(log, "network_spare_unreadable", level=logging.WARNING, error=exc)
        self.drop()

    async def close(self) -> None:
        """The node stops: the one being made finished, then removed."""
        if self._task is not None:
            await self._task
        await asyncio.to_thread(self.drop)


__all__ = ["Spare", "Spares", "netns_name", "new_cid", "veth_name"]
