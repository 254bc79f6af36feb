"""kvm.*: VMs from an flist (/boot/boot.yaml or a kernel + initramfs), boot files, or disks.

The arguments are 0-core's (name, media, flist, cpu, memory, nics, port, mount), and three of
ours for a kernel given by path (kernel, initrd, cmdline). A VM's uuid names it afterwards.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

from ..context import Context
from ..errors import CommandError, VmError
from ..vms.boot import BootFiles, fetch_flist, flist_boot
from ..vms.driver import Disk, Share, VmSpec
from ..vms.host import VmHost
from .base import Args, Command, NoArgs


class Media(Args):
    type: Literal["disk", "cdrom"] = "disk"
    url: str
    iotune: dict[str, Any] | None = None


class Nic(Args):
    type: Literal["default", "bridge", "vxlan", "vlan"]
    id: str | None = None
    hwaddr: str | None = None


class Mount(Args):
    source: str
    target: str
    readonly: bool = False


class CreateArgs(Args):
    name: str
    media: list[Media] | None = None
    flist: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str = ""
    cpu: int = 1
    memory: int = 512
    nics: list[Nic] | None = None
    port: dict[str, int] | None = None
    mount: list[Mount] | None = None


class UuidArgs(Args):
    uuid: str


def _host(ctx: Context) -> VmHost:
    if ctx.node.vms is None:
        raise CommandError("this node runs no VMs")
    return ctx.node.vms


def _ports(port: dict[str, int] | None) -> dict[int, int]:
    ports = {}
    for host, guest in (port or {}).items():
        if not re.fullmatch(r"[0-9]{1,5}", host) or not 0 < int(host) < 65536:
            raise CommandError(f"kvm.create: port {host!r}: a host port is a number (1-65535)")
        if not 0 < guest < 65536:
            raise CommandError(f"kvm.create: port {host}: guest port {guest} is not 1-65535")
        ports[int(host)] = guest
    return ports


def _spec(args: CreateArgs, boot: BootFiles | None, tags: list[str] | None) -> VmSpec:
    for nic in args.nics or []:
        if nic.type != "default":
            raise CommandError(
                f"kvm.create: nic type {nic.type!r} is not supported on this node yet "
                "(only 'default': QEMU's user-mode network, with port forwards)"
            )
    return VmSpec(
        name=args.name,
        cpu=args.cpu,
        memory=args.memory,
        kernel=boot.kernel if boot else None,
        initrd=boot.initrd if boot else None,
        cmdline=" ".join(part for part in (boot.cmdline if boot else "", args.cmdline) if part),
        disks=tuple(Disk(m.url, cdrom=m.type == "cdrom") for m in args.media or []),
        ports=_ports(args.port),
        shares=tuple(Share(Path(m.source), m.target, m.readonly) for m in args.mount or []),
        tags=tuple(tags or ()),
    )


async def create(ctx: Context, args: CreateArgs) -> str:
    """Start a VM; its uuid."""
    host = _host(ctx)
    if not args.name:
        raise CommandError("kvm.create: a VM needs a name")
    if args.flist and args.kernel:
        raise CommandError("kvm.create: give an flist or a kernel, not both")
    if args.initrd and not args.kernel:
        raise CommandError("kvm.create: an initrd needs its kernel")
    if not (args.flist or args.kernel or args.media):
        raise CommandError("kvm.create: nothing to boot: give an flist, a kernel or media")
    host.scratch.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="kvm-", dir=host.scratch))
    try:
        boot = None
        if args.flist:
            flist = await asyncio.to_thread(fetch_flist, args.flist, staging)
            boot = await asyncio.to_thread(flist_boot, flist, staging)
        elif args.kernel:
            boot = BootFiles(Path(args.kernel), Path(args.initrd) if args.initrd else None)
        info = await host.driver.create(_spec(args, boot, ctx.job.tags))
    finally:
        # QEMU has read the boot files: they are not needed past its start
        shutil.rmtree(staging, ignore_errors=True)
    return info.uuid


async def list_vms(ctx: Context, args: NoArgs) -> list[dict[str, Any]]:
    return [vm.to_json() for vm in await _host(ctx).driver.list()]


async def info(ctx: Context, args: UuidArgs) -> dict[str, Any]:
    return (await _host(ctx).driver.info(args.uuid)).to_json()


async def destroy(ctx: Context, args: UuidArgs) -> None:
    await _host(ctx).driver.destroy(args.uuid)


async def shutdown(ctx: Context, args: UuidArgs) -> dict[str, bool]:
    """ACPI power off; stopped anyway after the node's --vm-shutdown-timeout."""
    host = _host(ctx)
    return {"powered_off": await host.driver.shutdown(args.uuid, host.shutdown_timeout)}


async def reboot(ctx: Context, args: UuidArgs) -> None:
    await _host(ctx).driver.reboot(args.uuid)


async def pause(ctx: Context, args: UuidArgs) -> None:
    await _host(ctx).driver.pause(args.uuid)


async def resume(ctx: Context, args: UuidArgs) -> None:
    await _host(ctx).driver.resume(args.uuid)


COMMANDS = [
    Command("kvm.create", CreateArgs, create),
    Command("kvm.list", NoArgs, list_vms),
    Command("kvm.info", UuidArgs, info),
    Command("kvm.destroy", UuidArgs, destroy),
    Command("kvm.shutdown", UuidArgs, shutdown),
    Command("kvm.reboot", UuidArgs, reboot),
    Command("kvm.reset", UuidArgs, reboot),
    Command("kvm.pause", UuidArgs, pause),
    Command("kvm.resume", UuidArgs, resume),
]

__all__ = ["COMMANDS", "VmError"]
