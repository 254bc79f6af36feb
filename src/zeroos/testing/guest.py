"""A small Linux guest for the VM tests and benchmarks, built from Debian packages offline.

The kernel is Debian's (``linux-image-amd64``'s image package, fetched with ``apt-get
download`` and read with ``dpkg-deb``, never installed); the initramfs is made here: Debian's
busybox-static, the kernel's virtio-net and 9p modules, and an ``/init`` that

- mounts the 9p share tagged ``mount0`` (when there is one) and writes :data:`SHARE_FILE` in it;
- brings the network up on QEMU's user-mode net and serves HTTP on :data:`GUEST_PORT`
  (busybox httpd; the page says :data:`PAGE`);
- then prints :data:`MARKER` on the serial console: after it, all the above answers;
- powers off when the ACPI power button is pressed (busybox acpid).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import yaml

MARKER = "ZOS-GUEST-READY"
PAGE = "zos guest page\n"
GUEST_PORT = 80
SHARE_FILE = "from-guest"
# what the guest needs beyond the kernel's built-ins (their dependencies are found here)
WANTED_MODULES = ("virtio_pci", "virtio_net", "9pnet_virtio", "9p", "button", "evdev")
BUSYBOX = Path("/bin/busybox")  # busybox-static's: the guest has no libc

INIT = f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /share /www /etc/acpi/PWRF
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in $(cat /modules/order); do insmod /modules/$module.ko 2>/dev/null; done
if mount -t 9p -o trans=virtio,version=9p2000.L mount0 /share 2>/dev/null; then
    echo written by the guest > /share/{SHARE_FILE}
fi
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
printf '{PAGE.strip()}\\n' > /www/index.html
httpd -p {GUEST_PORT} -h /www
printf '#!/bin/sh\\npoweroff -f\\n' > /etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
acpid -d -c /etc/acpi &  # not a daemon: a daemon runs from /, not from its folder
echo {MARKER}
while true; do sleep 3600; done
"""


@dataclass(frozen=True, slots=True)
class Guest:
    """Boot files of the test guest and what it shows once up."""

    kernel: Path
    initrd: Path
    cmdline: str = "console=ttyS0 quiet panic=-1"
    marker: str = MARKER
    port: int = GUEST_PORT
    page: str = PAGE
    share_file: str = SHARE_FILE


class GuestBuildError(RuntimeError):
    """The guest could not be built (apt-get, dpkg-deb or cpio failed)."""


def _run(argv: list[str], cwd: Path | None = None, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GuestBuildError(f"{argv[0]}: {exc}") from exc
    if done.returncode != 0:
        raise GuestBuildError(f"{' '.join(argv)}: {done.stderr.decode(errors='replace')}")
    return done.stdout


def _kernel_package() -> str:
    """linux-image-amd64's image package (a metapackage: it names the real one)."""
    out = _run(["apt-cache", "depends", "linux-image-amd64"]).decode()
    found = re.search(r"Depends: (linux-image-\S+-amd64)", out)
    if found is None:
        raise GuestBuildError("apt-cache: linux-image-amd64 names no kernel image package")
    return found.group(1)


def _module_depends(ko: bytes) -> list[str]:
    """The modules a module needs, from its .modinfo ``depends=`` string."""
    found = re.search(rb"\0depends=([^\0]*)\0", ko)
    return [name.decode() for name in found.group(1).split(b",") if name] if found else []


def _extract(deb: Path, into: Path) -> tuple[Path, dict[str, bytes]]:
    """The kernel image and every module (by name, with ``-`` read as ``_``) of a kernel deb."""
    modules: dict[str, bytes] = {}
    kernel = into / "vmlinuz"
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as dpkg:
        if dpkg.stdout is None:
            raise GuestBuildError("dpkg-deb: no output")
        with tarfile.open(fileobj=dpkg.stdout, mode="r|") as tar:
            for member in tar:
                name = member.name
                if not member.isfile():
                    continue
                if re.fullmatch(r"\./boot/vmlinuz-.*", name):
                    source = tar.extractfile(member)
                    if source is not None:
                        kernel.write_bytes(source.read())
                elif name.endswith(".ko") and "/kernel/" in name:
                    source = tar.extractfile(member)
                    if source is not None:
                        modules[Path(name).stem.replace("-", "_")] = source.read()
    if dpkg.returncode != 0 or not kernel.is_file():
        raise GuestBuildError(f"dpkg-deb: {deb.name} holds no /boot/vmlinuz-*")
    return kernel, modules


def _load_order(modules: dict[str, bytes]) -> list[str]:
    """:data:`WANTED_MODULES` and what they depend on, each after its dependencies."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name not in modules:
            raise GuestBuildError(f"the kernel package has no module {name}")
        for needed in _module_depends(modules[name]):
            visit(needed.replace("-", "_"))
        order.append(name)

    for name in WANTED_MODULES:
        visit(name)
    return order


def build_guest(cache: Path) -> Guest:
    """Build the guest in ``cache`` (once: a second call finds it there)."""
    guest = Guest(kernel=cache / "vmlinuz", initrd=cache / "initrd.gz")
    if guest.kernel.is_file() and guest.initrd.is_file():
        return guest
    cache.mkdir(parents=True, exist_ok=True)
    package = _kernel_package()
    _run(["apt-get", "download", "-q", package], cwd=cache)
    deb = next(cache.glob(f"{package}_*.deb"))
    _, modules = _extract(deb, cache)
    deb.unlink()
    tree = cache / "initramfs"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "bin").mkdir(parents=True)
    (tree / "modules").mkdir()
    shutil.copy2(BUSYBOX, tree / "bin" / "busybox")
    order = _load_order(modules)
    for name in order:
        (tree / "modules" / f"{name}.ko").write_bytes(modules[name])
    (tree / "modules" / "order").write_text("\n".join(order) + "\n")
    (tree / "init").write_text(INIT)
    os.chmod(tree / "init", 0o755)  # noqa: S103 (the kernel runs /init: it must be executable)
    names = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    archive = _run(
        ["cpio", "--quiet", "-o", "-H", "newc"], cwd=tree, stdin="\n".join(names).encode()
    )
    guest.initrd.write_bytes(gzip.compress(archive, compresslevel=1))
    shutil.rmtree(tree)
    return guest


def boot_flist(root: Path, guest: Guest, *, boot_yaml: bool = True) -> Path:
    """An flist (``root/vm.fl``, its blocks in ``root/blocks``) holding ``guest``'s kernel and
    initramfs under /boot with the /boot/boot.yaml that names them (none: ``boot_yaml`` False)."""
    from zeroos.flist.create import create  # the flist part only where an flist is made

    tree = root / "tree"
    (tree / "boot").mkdir(parents=True)
    (tree / "etc").mkdir()
    (tree / "etc" / "hostname").write_text("guest\n")
    if boot_yaml:
        shutil.copy(guest.kernel, tree / "boot" / "kernel-zos")
        shutil.copy(guest.initrd, tree / "boot" / "guest-initramfs.gz")
        config = {
            "kernel": "/boot/kernel-zos",
            "initrd": "/boot/guest-initramfs.gz",
            "cmdline": guest.cmdline,
        }
        (tree / "boot" / "boot.yaml").write_text(yaml.safe_dump(config))
    flist = root / "vm.fl"
    create(tree, flist, [f"dir://{root / 'blocks'}"])
    return flist


__all__ = [
    "GUEST_PORT",
    "MARKER",
    "PAGE",
    "SHARE_FILE",
    "Guest",
    "GuestBuildError",
    "boot_flist",
    "build_guest",
]
