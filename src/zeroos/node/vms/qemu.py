"""VMs run by QEMU (Debian's qemu-system-x86), driven over QMP with ``qemu.qmp``.

Each VM has a folder ``<root>/<uuid>/``: ``vm.json`` (what it was made as), ``qemu.pid``,
``qmp.sock``, ``console.log`` (its serial port) and ``start.log`` (what QEMU said starting).
QEMU daemonizes, so a VM outlives a restart of the node, and a new driver over the same
root finds it by its pidfile and QMP socket (re-adoption). The uuid is given to QEMU
(``-uuid``): a pid is taken for the VM's only while that process's command line names it.

QEMU is started with the folder as its working directory and relative paths: a socket's
path must fit 108 bytes, which a deep ``--data`` folder does not; the node connects through
``/proc/self/fd/<folder fd>/qmp.sock`` for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import time
import uuid as uuids
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
from qemu.qmp import ConnectError, ExecuteError, QMPClient, QMPError

from ...common.log import event
from ..errors import VmError, VmNotFound
from .accel import KVM_ARGS, TCG_ARGS, AccelChoice
from .driver import CRASHED, PAUSED, RUNNING, SHUTDOWN, Disk, Share, VmInfo, VmSpec

POWER_BUTTON_EVERY = 5.0  # seconds between presses of the ACPI power button at a shutdown
log = logging.getLogger("zeroos.node.vms")

START_TIMEOUT = 60.0  # seconds QEMU has to set a VM up and daemonize
QMP_TIMEOUT = 10.0  # seconds a QMP connection or command may take
STOP_TIMEOUT = 10.0  # seconds a VM process has to end after quit, before SIGKILL
QCOW2_MAGIC = b"QFI\xfb"
SPEC, PIDFILE, QMP_SOCKET, CONSOLE = "vm.json", "qemu.pid", "qmp.sock", "console.log"
START_LOG = "start.log"  # what QEMU said while starting

# query-status words to the driver's states
_STATES = {
    "running": RUNNING,
    "paused": PAUSED,
    "suspended": PAUSED,
    "shutdown": SHUTDOWN,
    "internal-error": CRASHED,
    "guest-panicked": CRASHED,
}


def _alive(pid: int, uuid: str) -> bool:
    """Whether ``pid`` is still the QEMU of VM ``uuid`` (not a zombie, not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return uuid.encode() in cmdline.split(b"\0")


def _disk_args(index: int, disk: Disk) -> list[str]:
    if disk.cdrom:
        return ["-drive", f"file={disk.url},media=cdrom,readonly=on,if=ide,index={index}"]
    if "://" in disk.url:  # nbd+unix:// and friends: QEMU opens them itself
        return ["-drive", f"file={disk.url},if=virtio"]
    path = Path(disk.url)
    try:
        with path.open("rb") as file:
            head = file.read(4)
    except OSError as exc:
        raise VmError(f"disk {disk.url}: {exc.strerror or exc}") from exc
    fmt = "qcow2" if head == QCOW2_MAGIC else "raw"
    return ["-drive", f"file={path.resolve()},format={fmt},if=virtio"]


class QemuDriver:
    """Creates VMs under ``root`` and drives them (see the module's docstring)."""

    def __init__(
        self,
        root: Path,
        accel: str = "auto",
        *,
        binary: str = "qemu-system-x86_64",
        kvm_device: str = "/dev/kvm",
    ) -> None:
        self.root = root
        self.binary = binary
        # auto: a guest is tried on KVM now, its answer read at the first VM (accel.py)
        self._accel = AccelChoice(accel, kvm_device, binary)
        self._locks: dict[str, asyncio.Lock] = {}

    def close(self) -> None:
        """The node stops: a KVM probe still running is stopped (VMs keep running)."""
        self._accel.close()

    @property
    def accel(self) -> str:
        """kvm or tcg (the first call may wait for the KVM probe: see accel.py)."""
        return self._accel.accel()

    # -- the VMs' folders

    def _folder(self, uuid: str) -> Path:
        folder = self.root / uuid
        # a uuid is ours to parse: never a path a client chose
        try:
            if str(uuids.UUID(uuid)) != uuid:
                raise ValueError(uuid)
        except ValueError:
            raise VmNotFound(f"no VM {uuid!r} on this node (see kvm.list)") from None
        return folder

    def _load(self, uuid: str) -> dict[str, Any]:
        try:
            saved: dict[str, Any] = json.loads((self._folder(uuid) / SPEC).read_text())
        except FileNotFoundError:
            raise VmNotFound(f"no VM {uuid!r} on this node (see kvm.list)") from None
        except (OSError, ValueError) as exc:
            raise VmError(f"VM {uuid}: its {SPEC} cannot be read: {exc}") from exc
        return saved

    def _pid(self, uuid: str) -> int | None:
        try:
            pid = int((self._folder(uuid) / PIDFILE).read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid, uuid) else None

    def _lock(self, uuid: str) -> asyncio.Lock:
        # QEMU's QMP socket serves one client at a time: one operation per VM at a time
        return self._locks.setdefault(uuid, asyncio.Lock())

    def _forwarded(self) -> dict[int, str]:
        """Host ports forwarded by the VMs here, to their names."""
        ports: dict[int, str] = {}
        for folder in self.root.glob(f"*/{SPEC}"):
            with contextlib.suppress(OSError, ValueError):
                saved = json.loads(folder.read_text())
                for host in saved["ports"]:
                    ports[int(host)] = saved["name"]
        return ports

    # -- QMP

    @contextlib.asynccontextmanager
    async def _qmp(self, uuid: str) -> AsyncIterator[QMPClient]:
        client = QMPClient(f"vm-{uuid[:8]}")
        fd = os.open(self._folder(uuid), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            async with asyncio.timeout(QMP_TIMEOUT):
                await client.connect(f"/proc/self/fd/{fd}/{QMP_SOCKET}")
        except (ConnectError, OSError, TimeoutError) as exc:
            raise VmError(f"VM {uuid}: QEMU's monitor does not answer: {exc}") from exc
        finally:
            os.close(fd)
        try:
            yield client
        finally:
            # QEMU that quit closes the socket first: the client's EOFError is no news
            with contextlib.suppress(QMPError, OSError, EOFError):
                await client.disconnect()

    async def _execute(self, uuid: str, command: str, args: dict[str, Any] | None = None) -> Any:
        async with self._lock(uuid), self._qmp(uuid) as qmp:
            try:
                return await asyncio.wait_for(qmp.execute(command, args), QMP_TIMEOUT)
            except ExecuteError as exc:
                raise VmError(f"VM {uuid}: {command}: {exc}") from exc
            except (QMPError, OSError, TimeoutError) as exc:
                raise VmError(f"VM {uuid}: {command}: QEMU's monitor failed: {exc}") from exc

    # -- the driver's calls

    def _argv(self, uuid: str, spec: VmSpec) -> list[str]:
        accel = KVM_ARGS if self.accel == "kvm" else TCG_ARGS
        argv = [
            self.binary,
            "-name",
            f"{spec.name},process=zos-vm-{uuid[:8]}",
            "-uuid",
            uuid,
            *accel,
            "-smp",
            str(spec.cpu),
            "-m",
            f"{spec.memory}M",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-serial",
            f"file:{CONSOLE}",
            "-qmp",
            f"unix:{QMP_SOCKET},server=on,wait=off",
            "-pidfile",
            PIDFILE,
            "-daemonize",
        ]
        if spec.kernel is not None:
            cmdline = (
                spec.cmdline if "console=" in spec.cmdline else f"console=ttyS0 {spec.cmdline}"
            )
            argv += ["-kernel", str(spec.kernel.resolve()), "-append", cmdline.strip()]
            if spec.initrd is not None:
                argv += ["-initrd", str(spec.initrd.resolve())]
        for index, disk in enumerate(spec.disks):
            argv += _disk_args(index, disk)
        forwards = "".join(f",hostfwd=tcp::{host}-:{guest}" for host, guest in spec.ports.items())
        argv += ["-netdev", f"user,id=net0{forwards}", "-device", "virtio-net-pci,netdev=net0"]
        for index, share in enumerate(spec.shares):
            readonly = ",readonly=on" if share.readonly else ""
            argv += [
                "-fsdev",
                f"local,id=fs{index},path={share.source.resolve()},security_model=none{readonly}",
                "-device",
                f"virtio-9p-pci,fsdev=fs{index},mount_tag=mount{index}",
            ]
        return argv

    def _check(self, spec: VmSpec) -> None:
        """Refuse what QEMU would take and fail on later (or never say)."""
        if spec.kernel is None and not spec.disks:
            raise VmError(f"VM {spec.name!r}: nothing to boot: give a kernel or a disk")
        for path in (spec.kernel, spec.initrd):
            if path is not None and not path.is_file():
                raise VmError(f"VM {spec.name!r}: no file {path}")
        if spec.cpu < 1:
            raise VmError(f"VM {spec.name!r}: cpu must be at least 1, not {spec.cpu}")
        total = psutil.virtual_memory().total // 2**20
        if not 16 <= spec.memory <= total:
            raise VmError(
                f"VM {spec.name!r}: memory {spec.memory} MiB does not fit this machine "
                f"(16 to {total} MiB)"
            )
        taken = self._forwarded()
        for host in spec.ports:
            if host in taken:
                raise VmError(f"port {host} is already forwarded to VM {taken[host]!r}")
        for share in spec.shares:
            if not share.source.is_dir():
                raise VmError(f"VM {spec.name!r}: no host folder {share.source} to share")
            if "," in str(share.source.resolve()):
                raise VmError(f"VM {spec.name!r}: QEMU cannot share a path with a comma")

    async def create(self, spec: VmSpec) -> VmInfo:
        self._check(spec)
        await asyncio.to_thread(self._accel.accel)  # the KVM probe's answer, once
        uuid = str(uuids.uuid4())
        folder = self.root / uuid
        folder.mkdir(parents=True, mode=0o700)
        try:
            argv = self._argv(uuid, spec)
            # QEMU's own complaints go to a file, not a pipe: under uvloop a pipe's end is
            # not seen once QEMU daemonizes, and the start would wait forever
            with (folder / START_LOG).open("wb") as errors:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=folder,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=errors,
                    start_new_session=True,
                )
            try:
                code = await asyncio.wait_for(process.wait(), START_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
                raise VmError(
                    f"VM {spec.name!r}: QEMU did not start in {START_TIMEOUT:.0f} s"
                ) from None
            if code != 0:
                lines = (folder / START_LOG).read_text(errors="replace").strip().splitlines()
                why = lines[-1] if lines else f"exit code {code}"
                why = why.removeprefix(f"{self.binary}: ")
                raise VmError(f"VM {spec.name!r} did not start: {why}")
            saved = {
                "name": spec.name,
                "cpu": spec.cpu,
                "memory": spec.memory,
                "accel": self.accel,
                "ports": {str(h): g for h, g in spec.ports.items()},
                "shares": [[str(s.source), s.target, s.readonly] for s in spec.shares],
                "tags": list(spec.tags),
                "created": time.time(),
            }
            staged = folder / f".{SPEC}"
            staged.write_text(json.dumps(saved))
            staged.rename(folder / SPEC)
            event(log, "vm_created", uuid=uuid, vm=spec.name, accel=self.accel)
            return await self.info(uuid)
        except BaseException:
            await self._remove(uuid, folder)
            raise

    def _describe(self, uuid: str, saved: dict[str, Any], pid: int, state: str) -> VmInfo:
        return VmInfo(
            uuid=uuid,
            name=saved["name"],
            state=state,
            cpu=saved["cpu"],
            memory=saved["memory"],
            accel=saved["accel"],
            pid=pid,
            console=self.root / uuid / CONSOLE,
            ports={int(h): g for h, g in saved["ports"].items()},
            shares=tuple(Share(Path(s), t, r) for s, t, r in saved["shares"]),
            tags=tuple(saved["tags"]),
        )

    async def info(self, uuid: str) -> VmInfo:
        saved = self._load(uuid)
        pid = self._pid(uuid)
        if pid is None:
            # QEMU ended (the guest powered off, or it was killed): the VM is gone, as
            # 0-core's transient domains go
            await self._remove(uuid, self.root / uuid)
            raise VmNotFound(f"VM {uuid} ({saved['name']}) has stopped and is gone")
        status = await self._execute(uuid, "query-status")
        return self._describe(uuid, saved, pid, _STATES.get(status["status"], status["status"]))

    async def list(self) -> list[VmInfo]:
        found = []
        for spec in sorted(self.root.glob(f"*/{SPEC}")):
            with contextlib.suppress(VmNotFound):
                found.append(await self.info(spec.parent.name))
        return found

    async def pause(self, uuid: str) -> None:
        await self._execute(uuid, "stop")

    async def resume(self, uuid: str) -> None:
        await self._execute(uuid, "cont")

    async def reboot(self, uuid: str) -> None:
        # a reset, not an ACPI request: a guest without ACPI handling reboots too
        await self._execute(uuid, "system_reset")

    async def shutdown(self, uuid: str, timeout: float) -> bool:
        self._load(uuid)
        # the power button again every few seconds, as a person would press it: a press the guest
        # gets before its ACPI handler listens (still booting, just rebooted) is lost
        deadline = time.monotonic() + timeout
        powered_off = False
        while not powered_off and time.monotonic() < deadline:
            try:
                await self._execute(uuid, "system_powerdown")
            except VmError:
                if self._pid(uuid) is not None:
                    raise
                powered_off = True  # it went between our look and the press
                break
            wait = min(POWER_BUTTON_EVERY, deadline - time.monotonic())
            powered_off = await self._wait_gone(uuid, max(wait, 0.0))
        if not powered_off:
            event(log, "vm_shutdown_timeout", uuid=uuid, timeout=timeout)
        await self.destroy(uuid)
        return powered_off

    async def destroy(self, uuid: str) -> None:
        self._load(uuid)
        await self._remove(uuid, self.root / uuid)
        event(log, "vm_destroyed", uuid=uuid)

    # -- ending

    async def _wait_gone(self, uuid: str, timeout: float) -> bool:
        """Poll until VM ``uuid``'s QEMU is gone; False if it is still there at the deadline."""
        deadline = time.monotonic() + timeout
        while self._pid(uuid) is not None:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def _remove(self, uuid: str, folder: Path) -> None:
        """End the VM's QEMU (quit, then SIGKILL) and remove its folder."""
        async with self._lock(uuid):
            pid = self._pid(uuid)
            if pid is not None:
                with contextlib.suppress(VmError):
                    async with self._qmp(uuid) as qmp:
                        with contextlib.suppress(QMPError, OSError, EOFError, TimeoutError):
                            await asyncio.wait_for(qmp.execute("quit"), QMP_TIMEOUT)
                if not await self._wait_gone(uuid, STOP_TIMEOUT):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    if not await self._wait_gone(uuid, STOP_TIMEOUT):
                        raise VmError(f"VM {uuid}: QEMU (pid {pid}) does not end")
            shutil.rmtree(folder, ignore_errors=True)
        self._locks.pop(uuid, None)


__all__ = ["QemuDriver"]
