"""bridge.*: linux bridges on the host, with an address and NAT when asked."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Literal

from ..containers import network
from ..context import Context
from ..errors import CommandError
from .base import Args, Command, NoArgs


class BridgeNetwork(Args):
    mode: Literal["static", "dnsmasq"] | None = None
    nat: bool = False
    settings: dict[str, str] = {}


class CreateArgs(Args):
    name: str
    hwaddr: str | None = None
    network: BridgeNetwork = BridgeNetwork()


def _create(args: CreateArgs) -> None:
    net = args.network
    if net.mode == "dnsmasq":
        raise CommandError("bridge.create: dnsmasq mode is not supported here: use static")
    cidr = net.settings.get("cidr")
    if net.mode == "static" and not cidr:
        raise CommandError("bridge.create: static mode needs settings {'cidr': 'ip/prefix'}")
    if net.nat and not cidr:
        raise CommandError("bridge.create: nat needs an address: mode static with a cidr")
    if cidr:
        try:
            ipaddress.ip_interface(cidr)
        except ValueError:
            raise CommandError(f"bridge.create: {cidr!r} is not an address/prefix") from None
    network.create_bridge(args.name, cidr, args.hwaddr)
    if net.nat and cidr:
        try:
            network.add_nat(args.name, cidr)
        except CommandError:
            network.delete_link(args.name)
            raise


async def create(ctx: object, args: CreateArgs) -> None:
    await asyncio.to_thread(_create, args)


async def list_(ctx: object, args: NoArgs) -> list[str]:
    """The host's linux bridges, by name."""
    return sorted(link["ifname"] for link in await asyncio.to_thread(network.links, "bridge"))


class DeleteArgs(Args):
    name: str


def _delete(name: str) -> None:
    if name not in {link["ifname"] for link in network.links("bridge")}:
        raise CommandError(f"bridge.delete: no bridge {name!r}", hint="bridge.list shows them")
    network.remove_nat(name)
    network.delete_link(name)


async def delete(ctx: Context, args: DeleteArgs) -> None:
    containers = ctx.node.containers
    if containers is not None and args.name == containers.bridge:
        using = sorted(n for n, r in containers.records.items() if r.ip)
        if using:
            raise CommandError(
                f"bridge.delete: containers {', '.join(map(str, using))} are on {args.name}",
                hint="terminate them first",
            )
    await asyncio.to_thread(_delete, args.name)


COMMANDS = [
    Command("bridge.create", CreateArgs, create),
    Command("bridge.list", NoArgs, list_),
    Command("bridge.delete", DeleteArgs, delete),
]
