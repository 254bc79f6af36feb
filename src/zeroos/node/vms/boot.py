"""A VM's boot files out of an flist: /boot/boot.yaml (0-core's), or a kernel and an initramfs.

``boot.yaml`` (as 0-core reads it)::

    kernel: /boot/vmlinuz-linux
    initrd: /boot/initramfs-linux.img
    cmdline: extra kernel arguments   # optional

Without it, the flist's ``/boot/vmlinuz*`` and ``/boot/initrd*`` (or ``initramfs*``) are taken.
The files are read through the flist's public API (its blocks from its own routes) into a
folder the caller owns.
"""

from __future__ import annotations

import fnmatch
import io
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from ...flist import Flist, FlistError
from ...flist.query import cat, ls
from ...flist.stores import Router, flist_routes
from ..errors import VmError

BOOT_YAML = "/boot/boot.yaml"
FETCH_TIMEOUT = 60.0  # seconds to fetch an flist file over http(s)


@dataclass(frozen=True, slots=True)
class BootFiles:
    """A kernel, its initramfs (if any) and the extra kernel command line."""

    kernel: Path
    initrd: Path | None
    cmdline: str = ""


def fetch_flist(source: str, into: Path) -> Path:
    """The flist file: a local path as is, an http(s) URL (a hub's too) downloaded into ``into``."""
    if not source.startswith(("http://", "https://")):
        return Path(source)
    target = into / "boot.fl"
    try:
        with httpx.stream("GET", source, timeout=FETCH_TIMEOUT, follow_redirects=True) as reply:
            reply.raise_for_status()
            with target.open("wb") as out:
                for chunk in reply.iter_bytes():
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise VmError(f"flist {source}: cannot fetch it: {exc}") from exc
    return target


def _boot_yaml(flist: Flist, router: Router) -> dict[str, str] | None:
    try:
        flist.resolve(BOOT_YAML)
    except FlistError:
        return None
    into = io.BytesIO()
    cat(flist, router, BOOT_YAML, into)
    try:
        config = yaml.safe_load(into.getvalue())
    except yaml.YAMLError as exc:
        raise VmError(f"{BOOT_YAML} in the flist is not YAML: {exc}") from exc
    if not isinstance(config, dict) or not isinstance(config.get("kernel"), str):
        raise VmError(f"{BOOT_YAML} in the flist names no kernel (kernel: /boot/...)")
    for key in ("initrd", "cmdline"):
        if config.get(key) is not None and not isinstance(config[key], str):
            raise VmError(f"{BOOT_YAML} in the flist: {key} must be a string")
    return {k: str(v) for k, v in config.items() if k in ("kernel", "initrd", "cmdline") and v}


def _first(names: list[str], *patterns: str) -> str | None:
    for pattern in patterns:
        found = sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
        if found:
            return f"/boot/{found[-1]}"
    return None


def flist_boot(path: Path, into: Path) -> BootFiles:
    """Read the boot files of the flist at ``path`` into the folder ``into``."""
    try:
        flist = Flist.open(path)
    except FlistError as exc:
        raise VmError(f"flist {path}: {exc}") from exc
    try:
        router = Router(flist_routes(flist, None))
        try:
            config = _boot_yaml(flist, router)
            if config is None:
                try:
                    names = [name for name, node in ls(flist, "/boot") if node.is_file]
                except FlistError:
                    names = []
                kernel = _first(names, "vmlinuz*", "bzImage*")
                initrd = _first(names, "initrd*", "initramfs*")
                if kernel is None:
                    raise VmError(
                        f"flist {path} cannot boot a VM: it has no {BOOT_YAML} and no "
                        "/boot/vmlinuz*: add them, or give a kernel or a disk"
                    )
                config = {"kernel": kernel, **({"initrd": initrd} if initrd else {})}
            files = {}
            for key in ("kernel", "initrd"):
                if key in config:
                    target = into / key
                    with target.open("wb") as out:
                        cat(flist, router, config[key], out)
                    files[key] = target
        finally:
            router.close()
    except FlistError as exc:
        raise VmError(f"flist {path}: {exc}") from exc
    finally:
        flist.close()
    return BootFiles(files["kernel"], files.get("initrd"), config.get("cmdline", ""))


__all__ = ["BOOT_YAML", "BootFiles", "fetch_flist", "flist_boot"]
