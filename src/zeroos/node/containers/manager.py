"""The node's containers: made from flists, kept on disk, re-adopted after a restart.

Each container has a folder ``DATA/containers/N``: ``state.json`` (what it was made from, its
address, its port forwards), its OCI bundle, its root (an flist mount, see rootfs.py) and the log
of its init. Its processes belong to the OCI runtime, not to the node: a node killed with -9
loses none, and the next one adopts what it finds running (forwards opened again, nothing
mounted twice) and cleans up what it finds dead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import json
import logging
import os
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...common.log import event
from ...flist.errors import FlistError
from ..errors import CommandError
from . import network, rootfs
from .forward import Forward
from .mounts import FlistMounts
from .runtime import Runtime, RuntimeFailure
from .spare import Spares, netns_name, new_cid, veth_name
from .spec import Limits, Spec, limits_refused

log = logging.getLogger("zeroos.node")

DEFAULT_INIT = ["/bin/sh", "-c", "trap 'kill $!; exit 0' TERM; sleep 2147483647 & wait"]
# seconds a new container's init must stay up to count as started (a loaded machine may take
# longer than this to run a process that exits: corex.dispatch then says the container stopped)
EXITS_AT_ONCE = 1.0
# ...but one that has run its program and sleeps (waits for a child, a socket, a signal) over
# this many polls in a row is started: a process on its way out does not go to sleep
SETTLED_POLLS = 2
POLL = 0.001  # seconds between looks at a new init (a look costs ~50 µs)
STOP_GRACE = 3.0  # seconds between SIGTERM and SIGKILL on terminate


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """A process's state letter and start time (clock ticks after boot), or None when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[19])


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has ended)."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in "ZX"


@dataclass
class Record:
    """What the node keeps of one container (state.json)."""

    id: int
    cid: str  # the runtime's name of it
    root_url: str
    flist: str
    arguments: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    hostname: str = ""
    ip: str = ""  # its eth0 address on the bridge ("" for nics none)
    bridge: str = ""
    ports: dict[str, int] = field(default_factory=dict)  # host port (text: JSON keys) -> port
    limits: str = ""  # how the cgroup limits went: applied, none, or why not
    mount: str = ""  # its flist's folder in the node's mount service
    pid: int = 0  # its init's pid on the host...
    started: int = 0  # ...and that process's start time (a pid is used again once free)
    created: float = 0.0

    @property
    def netns(self) -> str:
        return netns_name(self.cid)

    @property
    def veth(self) -> str:
        return veth_name(self.cid)


class Containers:
    """Every container of one node, and the runtime, bridge and forwards they use."""

    def __init__(
        self, data: Path, runtime: Runtime, *, bridge: str, cidr: str, listen: str = "0.0.0.0"
    ) -> None:
        self.folder = data / "containers"
        self.cache = data / "flist-cache"
        self.flists = data / "flists"
        self.runtime = runtime
        self.bridge = bridge
        self.cidr = ipaddress.ip_interface(cidr)
        self.listen = listen
        self.records: dict[int, Record] = {}
        self.forwards: dict[int, Forward] = {}  # host port -> its relay
        self.mounts = FlistMounts(data, self.cache)
        self._warming: asyncio.Task[None] | None = None
        self.spares = Spares(data / "network-spare.json", bridge, self._plug, self._next_ip)
        self._lock = asyncio.Lock()  # one create/terminate at a time touches ids and addresses
        self.folder.mkdir(parents=True, exist_ok=True)

    # -- state on disk -------------------------------------------------------------------
    def _dir(self, n: int) -> Path:
        return self.folder / str(n)

    def _save(self, record: Record) -> None:
        path = self._dir(record.id) / "state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record)))
        tmp.replace(path)

    def _next_id(self) -> int:
        taken = {int(p.name) for p in self.folder.iterdir() if p.name.isdigit()}
        return max(taken | set(self.records), default=0) + 1

    def _next_ip(self) -> str:
        used = {r.ip for r in self.records.values()} | {str(self.cidr.ip)}
        if self.spares.reserved_ip is not None:
            used.add(self.spares.reserved_ip)
        for host in self.cidr.network.hosts():
            if str(host) not in used:
                return str(host)
        raise CommandError(f"no free address left on {self.cidr.network}")

    # -- start and stop of the node ------------------------------------------------------
    async def adopt(self) -> None:
        """Take over the containers a previous node left: running ones kept, dead ones cleaned.

        The mount service is kept when it answers, else started again (at once when containers
        need their flists served, else in the background: the first create waits for it).
        """
        await asyncio.to_thread(self.spares.drop_old)
        found = sorted(self.folder.glob("*/state.json"))
        if not found:
            self._warming = asyncio.create_task(self._warm_up())
        for path in found:
            try:
                record = Record(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError) as exc:
                event(
                    log, "container_state_unreadable", level=logging.WARNING, path=path, error=exc
                )
                continue
            self.records[record.id] = record
            state = await asyncio.to_thread(self.runtime.state, record.cid)
            if state is None or state.status != "running":
                event(log, "container_gone", id=record.id, status=state and state.status)
                await self._teardown(record)
                continue
            record.pid = state.pid
            record.started = (_proc_stat(state.pid) or ("", 0))[1]
            if record.ip:
                self._ensure_bridge()
            await asyncio.to_thread(self._adopt_root, record)
            for host, port in list(record.ports.items()):
                try:
                    await self._open_forward(record, int(host), port)
                except CommandError as exc:
                    event(log, "forward_lost", level=logging.WARNING, id=record.id, error=exc)
                    del record.ports[host]
                    self._save(record)
            event(log, "container_adopted", id=record.id, pid=state.pid)

    async def _warm_up(self) -> None:
        try:
            await asyncio.to_thread(self.mounts.ensure)
        except (CommandError, FlistError) as exc:  # the first create tries again, and says so
            event(log, "mount_service_unavailable", level=logging.WARNING, error=exc)

    def _adopt_root(self, record: Record) -> None:
        """A running container's flist served again, and its root checked to still read."""
        if not record.mount:  # made before the mount service: its own mount serves it
            return
        try:
            if self.mounts.ensure():
                event(log, "mount_service_replaced", level=logging.WARNING, id=record.id)
            self.mounts.adopt(record.mount, Path(record.flist), record.id)
            (self._dir(record.id) / "root" / "bin").stat()
        except (OSError, CommandError, FlistError) as exc:
            # a FUSE mount cannot be served again once its server died: the container's
            # root stays broken until it is terminated and created again
            event(log, "container_root_lost", level=logging.WARNING, id=record.id, error=exc)

    async def close(self) -> None:
        """The node stops: forwards close, containers keep running (the next node adopts them);
        with none left, the mount service and the bridge go too."""
        for forward in list(self.forwards.values()):
            await forward.close()
        self.forwards.clear()
        if self._warming is not None:
            await self._warming
        await self.spares.close()
        if not self.records:
            await asyncio.to_thread(self.mounts.stop)
            await asyncio.to_thread(self._drop_bridge)

    def _ensure_bridge(self) -> None:
        if not network.link_exists(self.bridge):
            network.create_bridge(self.bridge, str(self.cidr))

    def _drop_bridge(self) -> None:
        """The node's bridge goes with its last container (only when it carries our gateway)."""
        if network.link_exists(self.bridge) and str(self.cidr) in network.addresses(self.bridge):
            network.delete_link(self.bridge)

    # -- commands ------------------------------------------------------------------------
    async def create(
        self,
        *,
        root: str,
        arguments: dict[str, Any],
        tags: list[str],
        mounts: dict[str, str],
        ports: dict[int, int],
        env: dict[str, str],
        hostname: str,
        network_on: bool,
        limits: Limits,
        init: list[str],
    ) -> Record:
        """Make and start a container; on any failure nothing of it is left."""
        for host in mounts:
            if not Path(host).is_dir():
                raise CommandError(f"mount {host}: no such folder on the host")
        if ports and not network_on:
            raise CommandError("port forwards need a network: nics must not be none")
        for host_port in ports:
            if host_port in self.forwards:
                raise CommandError(f"host port {host_port} is forwarded already")
        flist = await asyncio.to_thread(rootfs.fetch, root, self.flists)
        async with self._lock:
            n = self._next_id()
            spare = await self.spares.take() if network_on else None
            record = Record(
                id=n,
                cid=spare.cid if spare is not None else new_cid(),
                root_url=root,
                flist=str(flist),
                arguments=arguments,
                tags=tags,
                hostname=hostname or f"container{n}",
                created=time.time(),
            )
            if network_on:
                record.ip = spare.ip if spare is not None else self._next_ip()
                record.bridge = self.bridge
            # its id and address are taken from here on: the making of the next container's
            # network (spare.py), which holds no lock, chooses an address between two awaits
            self.records[n] = record
            try:
                if network_on and spare is None:
                    # here, not beside other creates: two would both find no bridge and make it
                    await asyncio.to_thread(self._ensure_bridge)
                refused = None
                if limits.cpu or limits.memory:
                    refused = self.runtime.cgroups_refused or limits_refused(limits)
                if refused:
                    event(log, "limits_refused", level=logging.WARNING, id=n, reason=refused)
                    limits = Limits()
                record.limits = refused or ("applied" if limits.cpu or limits.memory else "none")
                self._dir(n).mkdir(parents=True)
                self._save(record)
            except BaseException:
                await self._teardown(record)  # a network made ahead goes with it
                raise
        try:
            await asyncio.to_thread(
                self._make, record, mounts, env, limits, init, plugged=spare is not None
            )
            for host_port, port in ports.items():
                await self._open_forward(record, host_port, port)
                record.ports[str(host_port)] = port
            self._save(record)
        except BaseException:
            await self._teardown(record)
            raise
        event(log, "container_created", id=n, cid=record.cid, ip=record.ip or None)
        if network_on:
            self.spares.refill()  # the next container's network, made while none starts
        return record

    def _make(
        self,
        record: Record,
        mounts: dict[str, str],
        env: dict[str, str],
        limits: Limits,
        init: list[str],
        *,
        plugged: bool,
    ) -> None:
        """Its root mounted, its network made (unless ``plugged``: made ahead), its init run."""
        folder = self._dir(record.id)
        # the network is made while the root is mounted (neither needs the other)
        with concurrent.futures.ThreadPoolExecutor(1, "zos-net") as pool:
            making = None
            if record.ip and not plugged:
                making = pool.submit(self._plug, record.cid, record.ip)
            try:
                record.mount, lower = self.mounts.acquire(Path(record.flist), record.id)
            except FlistError as exc:
                raise CommandError(f"cannot serve {record.root_url}: {exc}") from exc
            finally:
                netns = making.result() if making is not None else None
            if plugged:
                netns = network.netns_path(record.netns)
            self._save(record)
            root = rootfs.overlay_root(lower, folder)
        spec = Spec(
            rootfs=root,
            args=init,
            hostname=record.hostname,
            env=env,
            binds=mounts,
            netns=netns,
            limits=limits,
            cgroup=f"/zos/{record.cid}",
        )
        spec.write(folder / "bundle")
        try:
            record.pid = self.runtime.run(record.cid, folder / "bundle", log=folder / "init.log")
        except RuntimeFailure as exc:
            raise CommandError(f"container {record.id}: {exc}") from exc
        record.started = (_proc_stat(record.pid) or ("", 0))[1]
        self._settle(record, init)

    def _plug(self, cid: str, ip: str) -> Path:
        """Container ``cid``'s network namespace, its eth0 at ``ip`` on the bridge."""
        netns = network.create_netns(netns_name(cid))
        prefix = self.cidr.network.prefixlen
        network.plug(
            netns_name(cid), veth_name(cid), self.bridge, f"{ip}/{prefix}", str(self.cidr.ip)
        )
        return netns

    def _settle(self, record: Record, init: list[str]) -> None:
        """Return once the init runs its program and sleeps, or after EXITS_AT_ONCE; a process
        that exits before is a failed create, not a container.

        It runs its program once its command line is ``init`` (a script's ends with it; a
        program that rewrites its own is given the whole EXITS_AT_ONCE)."""
        asked = b"\0".join(os.fsencode(arg) for arg in init) + b"\0"
        deadline = time.monotonic() + EXITS_AT_ONCE
        quiet = 0
        while time.monotonic() < deadline:
            stat = _proc_stat(record.pid)
            if stat is None or stat[0] in "ZX" or stat[1] != record.started:
                raise CommandError(
                    f"container {record.id}: its process {init[0]!r} exited at once"
                    + self._said(record)
                )
            running_it = _cmdline(record.pid).endswith(asked)
            quiet = quiet + 1 if running_it and stat[0] == "S" else 0
            if quiet >= SETTLED_POLLS:
                return
            time.sleep(POLL)

    def _said(self, record: Record) -> str:
        """The last line the container's init wrote, as ': LINE' (or nothing)."""
        try:
            said = (self._dir(record.id) / "init.log").read_text(errors="replace").split("\n")
        except OSError:
            return ""
        lines = [line for line in said if line.strip()]
        return f": {lines[-1].strip()}" if lines else ""

    async def _open_forward(self, record: Record, host_port: int, port: int) -> None:
        if host_port in self.forwards:
            raise CommandError(f"host port {host_port} is forwarded already")
        forward = Forward(self.listen, host_port, record.ip, port)
        await forward.open()
        self.forwards[host_port] = forward

    def get(self, n: int) -> Record:
        record = self.records.get(n)
        if record is None:
            raise CommandError(f"no container {n}", hint="corex.list shows them")
        return record

    def describe(self, record: Record) -> dict[str, Any]:
        """A container as corex.list/get show it (0-core's shape: its creation arguments inside)."""
        state = self.runtime.state(record.cid)
        return {
            "container": {
                "arguments": record.arguments,
                "root": record.root_url,
                "pid": state.pid if state else 0,
                "status": state.status if state else "gone",
                "ip": record.ip,
                "port": {host: port for host, port in record.ports.items()},
                "limits": record.limits,
                "runtime": self.runtime.name,
                "tags": record.tags,
            },
        }

    async def terminate(self, n: int) -> None:
        record = self.get(n)
        async with self._lock:
            await self._teardown(record)
        event(log, "container_terminated", id=n)

    async def _teardown(self, record: Record) -> None:
        """Remove everything of a container, whatever state it got to; errors said once."""
        for host in list(record.ports):
            forward = self.forwards.pop(int(host), None)
            if forward is not None:
                await forward.close()
        await asyncio.to_thread(self._stop, record)
        self.records.pop(record.id, None)

    def _stop(self, record: Record) -> None:
        state = self.runtime.state(record.cid)
        if state is not None and state.status == "running":
            with contextlib.suppress(RuntimeFailure):
                self.runtime.kill(record.cid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE
            while _alive(state.pid) and time.monotonic() < deadline:
                time.sleep(0.01)
        try:
            self.runtime.delete(record.cid)  # --force: SIGKILLs what is left
        except RuntimeFailure as exc:
            raise CommandError(f"container {record.id}: {exc}") from exc
        folder = self._dir(record.id)
        rootfs.unmount_root(folder / "root")
        if record.mount:
            try:
                self.mounts.release(record.mount, record.id)
            except FlistError as exc:
                raise CommandError(f"container {record.id}: {exc}") from exc
        network.delete_link(record.veth)
        network.delete_netns(record.netns)
        shutil.rmtree(folder, ignore_errors=True)

    async def port_add(self, n: int, host_port: int, port: int) -> None:
        record = self.get(n)
        if not record.ip:
            raise CommandError(f"container {n} has no network (nics none): nothing to forward to")
        await self._open_forward(record, host_port, port)
        record.ports[str(host_port)] = port
        self._save(record)

    async def port_remove(self, n: int, host_port: int, port: int) -> None:
        record = self.get(n)
        if record.ports.get(str(host_port)) != port:
            raise CommandError(f"container {n} has no forward of host port {host_port} to {port}")
        forward = self.forwards.pop(host_port)
        await forward.close()
        del record.ports[str(host_port)]
        self._save(record)

    def exec_argv(self, n: int, argv: list[str], env: dict[str, str], cwd: str) -> list[str]:
        record = self.running(n)
        return self.runtime.exec_argv(record.cid, argv, env=env, cwd=cwd)

    def running(self, n: int) -> Record:
        """Container ``n``, when its process still runs (one line saying why not otherwise)."""
        record = self.get(n)
        stat = _proc_stat(record.pid) if record.pid else None
        if stat is not None and stat[1] == record.started:
            running = stat[0] not in "ZX"  # its init, known without asking the runtime
        else:
            state = self.runtime.state(record.cid)
            running = state is not None and state.status == "running"
        if not running:
            raise CommandError(
                f"container {n} is not running (its process exited){self._said(record)}",
                hint="corex.terminate it",
            )
        return record


__all__ = ["DEFAULT_INIT", "Containers", "Record"]
