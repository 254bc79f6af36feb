"""info.*: the machine (cpu, memory, disks, nics, os, open ports) and the node's version.

The shapes follow 0-core's (gopsutil's structures, camelCase), read through psutil.
"""

from __future__ import annotations

import platform
import socket
import time
from typing import Any

import psutil

from ..._version import __version__
from ..context import Context
from .base import Command, NoArgs


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor()


async def cpu(ctx: Context, args: NoArgs) -> list[dict[str, Any]]:
    """One entry per logical cpu."""
    freq = psutil.cpu_freq()
    model = _cpu_model()
    return [
        {"cpu": n, "modelName": model, "cores": 1, "mhz": freq.current if freq else 0.0}
        for n in range(psutil.cpu_count() or 1)
    ]


async def mem(ctx: Context, args: NoArgs) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    return {
        "total": memory.total,
        "available": memory.available,
        "used": memory.used,
        "usedPercent": memory.percent,
        "free": memory.free,
    }


async def disk(ctx: Context, args: NoArgs) -> list[dict[str, Any]]:
    """The mounted partitions."""
    return [
        {"device": p.device, "mountpoint": p.mountpoint, "fstype": p.fstype, "opts": p.opts}
        for p in psutil.disk_partitions(all=False)
    ]


async def nic(ctx: Context, args: NoArgs) -> list[dict[str, Any]]:
    """Every network interface with its addresses."""
    stats = psutil.net_if_stats()
    found = []
    for name, addresses in psutil.net_if_addrs().items():
        hw = next((a.address for a in addresses if a.family == psutil.AF_LINK), "")
        ips = [
            {"addr": f"{a.address}/{_prefix(a.netmask)}" if a.netmask else a.address}
            for a in addresses
            if a.family in (socket.AF_INET, socket.AF_INET6)
        ]
        stat = stats.get(name)
        found.append(
            {
                "name": name,
                "hardwareaddr": hw,
                "mtu": stat.mtu if stat else 0,
                "speed": stat.speed if stat else 0,
                "flags": ["up"] if stat and stat.isup else [],
                "addrs": ips,
            }
        )
    return found


def _prefix(netmask: str) -> int:
    """A netmask as a prefix length ("255.255.255.0" -> 24, "ffff:ffff::" -> 32)."""
    family = socket.AF_INET6 if ":" in netmask else socket.AF_INET
    return sum(bin(byte).count("1") for byte in socket.inet_pton(family, netmask))


async def os_info(ctx: Context, args: NoArgs) -> dict[str, Any]:
    boot = int(psutil.boot_time())
    try:
        release = platform.freedesktop_os_release()
    except OSError:
        release = {}
    return {
        "hostname": socket.gethostname(),
        "uptime": int(time.time()) - boot,
        "bootTime": boot,
        "procs": len(psutil.pids()),
        "os": platform.system().lower(),
        "platform": release.get("ID", ""),
        "platformVersion": release.get("VERSION_ID", ""),
        "kernelVersion": platform.release(),
    }


async def version(ctx: Context, args: NoArgs) -> dict[str, Any]:
    return {"branch": "zeroos-python", "revision": __version__, "dirty": False}


async def port(ctx: Context, args: NoArgs) -> list[dict[str, Any]]:
    """The listening TCP sockets and bound UDP sockets (as netstat -l)."""
    found = []
    for conn in psutil.net_connections(kind="inet"):
        if conn.status not in (psutil.CONN_LISTEN, psutil.CONN_NONE) or not conn.laddr:
            continue
        found.append(
            {
                "network": "tcp" if conn.type == socket.SOCK_STREAM else "udp",
                "ip": conn.laddr.ip,
                "port": conn.laddr.port,
                "pid": conn.pid or 0,
            }
        )
    return found


COMMANDS = [
    Command("info.cpu", NoArgs, cpu),
    Command("info.mem", NoArgs, mem),
    Command("info.disk", NoArgs, disk),
    Command("info.nic", NoArgs, nic),
    Command("info.os", NoArgs, os_info),
    Command("info.version", NoArgs, version),
    Command("info.port", NoArgs, port),
]
