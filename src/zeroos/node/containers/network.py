"""Linux bridges, NAT, network namespaces and veth pairs, through iproute2 and nftables.

Every change is made by Debian's `ip` and `nft` (netlink underneath), named after the node's
container or bridge, so that a terminate or bridge.delete can find and remove all of it.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..errors import CommandError

NETNS_DIR = Path("/var/run/netns")
TIMEOUT = 30.0
NAT_TABLE = "zos_nat_"  # + bridge name: one nftables table per bridge with NAT


def _run(*argv: str, what: str, feed: str | None = None) -> str:
    tool = shutil.which(argv[0])
    if tool is None:
        raise CommandError(f"{what}: {argv[0]} is not installed", hint=f"apt-get install {argv[0]}")
    try:
        done = subprocess.run(
            [tool, *argv[1:]],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
            input=None if feed is None else feed.encode(),
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandError(f"{what}: {argv[0]} gave no answer in {TIMEOUT:.0f} s") from exc
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise CommandError(f"{what}: {said[-1] if said else 'failed'}")
    return done.stdout.decode(errors="replace")


def ip(*args: str, what: str) -> str:
    return _run("ip", *args, what=what)


def ip_batch(lines: list[str], *, what: str, netns: str | None = None) -> None:
    """Several ip commands in one process (``ip -batch``; in ``netns`` when given): a process
    of its own for each costs more than the change it makes."""
    _run("ip", *(["-n", netns] if netns else []), "-batch", "-", what=what, feed="\n".join(lines))


def links(kind: str | None = None) -> list[dict[str, Any]]:
    """The host's links (of one kind: bridge, veth), as `ip -j -d link` shows them."""
    extra = ["type", kind] if kind else []
    said = ip("-j", "-d", "link", "show", *extra, what="list links")
    return list(json.loads(said or "[]"))


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def addresses(name: str) -> list[str]:
    said = ip("-j", "addr", "show", "dev", name, what=f"addresses of {name}")
    out = []
    for link in json.loads(said or "[]"):
        for addr in link.get("addr_info", []):
            if addr.get("family") == "inet":
                out.append(f"{addr['local']}/{addr['prefixlen']}")
    return out


def create_bridge(name: str, cidr: str | None, hwaddr: str | None = None) -> None:
    """A linux bridge, up, with the host's address ``cidr`` on it (the containers' gateway)."""
    if len(name) > 15 or not name:
        raise CommandError(f"bridge name {name!r}: 1 to 15 characters")
    if link_exists(name):
        raise CommandError(f"a link named {name!r} exists already", hint="pick another name")
    extra = ["address", hwaddr] if hwaddr else []
    ip("link", "add", name, *extra, "type", "bridge", what=f"create bridge {name}")
    try:
        if cidr:
            ip("addr", "add", cidr, "dev", name, what=f"address {cidr} on {name}")
        ip("link", "set", name, "up", what=f"bring {name} up")
    except CommandError:
        ip("link", "del", name, what=f"remove bridge {name}")
        raise


def delete_link(name: str) -> None:
    if link_exists(name):
        ip("link", "del", name, what=f"remove {name}")


def nft(*args: str, what: str) -> str:
    return _run("nft", *args, what=what)


def nat_tables() -> set[str]:
    """The bridges that have a NAT table of ours."""
    if shutil.which("nft") is None:
        return set()
    said = json.loads(nft("-j", "list", "tables", "ip", what="list nftables tables") or "{}")
    names = {t["table"]["name"] for t in said.get("nftables", []) if "table" in t}
    return {n[len(NAT_TABLE) :] for n in names if n.startswith(NAT_TABLE)}


def add_nat(bridge: str, cidr: str) -> None:
    """Masquerade what leaves ``cidr`` through another link than ``bridge`` (and forward it)."""
    net = ipaddress.ip_interface(cidr).network
    table = NAT_TABLE + bridge
    rules = (
        f"table ip {table} {{\n"
        f" chain post {{ type nat hook postrouting priority srcnat; "
        f'ip saddr {net} oifname != "{bridge}" masquerade; }}\n'
        "}\n"
    )
    _nft_file(rules, bridge)
    # forwarding is a host-wide switch: NAT without it routes nothing
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")


def _nft_file(rules: str, bridge: str) -> None:
    tool = shutil.which("nft")
    if tool is None:
        raise CommandError(
            f"NAT for {bridge}: nft is not installed", hint="apt-get install nftables"
        )
    done = subprocess.run(
        [tool, "-f", "-"], input=rules.encode(), capture_output=True, timeout=TIMEOUT, check=False
    )
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise CommandError(f"NAT for {bridge}: {said[-1] if said else 'nft failed'}")


def remove_nat(bridge: str) -> None:
    if bridge in nat_tables():
        nft("delete", "table", "ip", NAT_TABLE + bridge, what=f"remove NAT of {bridge}")


# -- a container's network namespace ---------------------------------------------------------
def netns_path(name: str) -> Path:
    return NETNS_DIR / name


def create_netns(name: str) -> Path:
    """A new network namespace (its loopback still down: plug brings it up)."""
    ip("netns", "add", name, what=f"network namespace {name}")
    return netns_path(name)


def delete_netns(name: str) -> None:
    if netns_path(name).exists():
        ip("netns", "del", name, what=f"remove network namespace {name}")


def plug(netns: str, veth: str, bridge: str, cidr: str, gateway: str) -> None:
    """A veth pair from ``bridge`` into ``netns``: eth0 there with ``cidr``, via ``gateway``;
    the namespace's loopback up."""
    ip_batch(
        [
            f"link add {veth} type veth peer name eth0 netns {netns}",
            f"link set {veth} master {bridge} up",
        ],
        what=f"veth {veth} on {bridge}",
    )
    try:
        ip_batch(
            [
                "link set lo up",
                f"addr add {cidr} dev eth0",
                "link set eth0 up",
                f"route add default via {gateway}",
            ],
            what=f"eth0 of {netns} ({cidr} via {gateway})",
            netns=netns,
        )
    except CommandError:
        delete_link(veth)
        raise


__all__ = [
    "NETNS_DIR",
    "add_nat",
    "addresses",
    "create_bridge",
    "create_netns",
    "delete_link",
    "delete_netns",
    "ip_batch",
    "link_exists",
    "links",
    "nat_tables",
    "netns_path",
    "plug",
    "remove_nat",
]
