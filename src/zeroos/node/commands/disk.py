"""disk.list: the machine's block devices, as 0-core answers it (lsblk's JSON, sizes in bytes)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from ..context import Context
from ..errors import CommandError
from .base import Command, NoArgs

LSBLK = ["lsblk", "--json", "--output-all", "--bytes", "--exclude", "1,2"]  # not ram, floppy
LSBLK_TIMEOUT = 30.0


async def list_disks(ctx: Context, args: NoArgs) -> dict[str, Any]:
    """``{"blockdevices": [{name, size, type, mountpoint, children, ...}]}``."""
    try:
        process = await asyncio.create_subprocess_exec(
            *LSBLK, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except OSError as exc:
        raise CommandError(f"disk.list: cannot run lsblk (util-linux): {exc}") from exc
    try:
        out, err = await asyncio.wait_for(process.communicate(), LSBLK_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise CommandError(f"disk.list: lsblk gave no answer in {LSBLK_TIMEOUT:.0f} s") from None
    if process.returncode != 0:
        raise CommandError(f"disk.list: lsblk failed: {err.decode(errors='replace').strip()}")
    try:
        devices: dict[str, Any] = json.loads(out) if out.strip() else {"blockdevices": []}
    except json.JSONDecodeError as exc:
        raise CommandError(f"disk.list: lsblk's answer is not JSON: {exc}") from exc
    return devices


COMMANDS = [Command("disk.list", NoArgs, list_disks)]
