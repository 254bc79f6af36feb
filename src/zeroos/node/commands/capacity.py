"""capacity.total: the machine's resource units in zero-directory's shape (cru, mru, hru, sru)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil

from ..context import Context
from .base import Command, NoArgs

GIB = 1024**3
SECTOR = 512  # /sys/block/*/size counts 512-byte sectors whatever the disk's own sector size
# block devices that are no disk of the machine: loops, ram disks, device-mapper, zram, cd-roms
_VIRTUAL = ("loop", "ram", "dm-", "zram", "sr", "nbd", "md")


def disks(sys_block: Path = Path("/sys/block")) -> list[dict[str, Any]]:
    """The machine's physical disks: name, size in bytes, spinning (hdd) or not (ssd)."""
    found = []
    for dev in sorted(sys_block.iterdir()) if sys_block.is_dir() else []:
        if dev.name.startswith(_VIRTUAL):
            continue
        try:
            size = int((dev / "size").read_text()) * SECTOR
            rotational = (dev / "queue" / "rotational").read_text().strip() == "1"
        except (OSError, ValueError):
            continue
        if size:
            found.append({"name": dev.name, "size": size, "type": "hdd" if rotational else "ssd"})
    return found


async def total(ctx: Context, args: NoArgs) -> dict[str, Any]:
    """cru: logical cpus; mru: memory, GiB; hru/sru: spinning/solid disk space, GiB."""
    found = disks()
    return {
        "cru": psutil.cpu_count() or 1,
        "mru": round(psutil.virtual_memory().total / GIB, 2),
        "hru": round(sum(d["size"] for d in found if d["type"] == "hdd") / GIB, 2),
        "sru": round(sum(d["size"] for d in found if d["type"] == "ssd") / GIB, 2),
    }


COMMANDS = [Command("capacity.total", NoArgs, total)]
