"""The OCI bundle of a container: its config.json, from what corex.create was given."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# capabilities a container's root keeps (Docker's default set: no CAP_SYS_ADMIN, no modules)
CAPABILITIES = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD = 100_000  # µs: a quota of `cpu` cores is cpu * period per period


@dataclass(frozen=True, slots=True)
class Limits:
    """cgroup limits: cores (fractions allowed) and memory bytes; None: no limit."""

    cpu: float | None = None
    memory: int | None = None

    def resources(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.cpu is not None:
            out["cpu"] = {"quota": int(self.cpu * CPU_PERIOD), "period": CPU_PERIOD}
        if self.memory is not None:
            out["memory"] = {"limit": self.memory}
        return out


@dataclass(frozen=True, slots=True)
class Spec:
    """What a container is made of, in the node's terms."""

    rootfs: Path
    args: list[str]
    hostname: str
    env: dict[str, str] = field(default_factory=dict)
    binds: dict[str, str] = field(default_factory=dict)  # host folder -> container path
    netns: Path | None = None  # a named network namespace to join; None: a new empty one
    limits: Limits = Limits()
    cgroup: str = ""

    def config(self) -> dict[str, Any]:
        env = [DEFAULT_PATH, f"HOSTNAME={self.hostname}"]
        env += [f"{k}={v}" for k, v in self.env.items()]
        network: dict[str, str] = {"type": "network"}
        if self.netns is not None:
            network["path"] = str(self.netns)
        caps = list(CAPABILITIES)
        mounts: list[dict[str, Any]] = [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
        ]
        for host, inside in self.binds.items():
            mounts.append(
                {"destination": inside, "type": "bind", "source": host, "options": ["rbind", "rw"]}
            )
        linux: dict[str, Any] = {
            "namespaces": [
                {"type": "pid"},
                network,
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
            ],
            "resources": {
                "devices": [{"allow": False, "access": "rwm"}],
                **self.limits.resources(),
            },
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        }
        if self.cgroup:
            linux["cgroupsPath"] = self.cgroup
        return {
            "ociVersion": "1.0.2",
            "process": {
                "terminal": False,
                "user": {"uid": 0, "gid": 0},
                "args": self.args,
                "env": env,
                "cwd": "/",
                "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
                "noNewPrivileges": True,
            },
            "root": {"path": str(self.rootfs), "readonly": False},
            "hostname": self.hostname,
            "mounts": mounts,
            "linux": linux,
        }

    def write(self, bundle: Path) -> None:
        bundle.mkdir(parents=True, exist_ok=True)
        (bundle / "config.json").write_text(json.dumps(self.config(), indent=1))


def cgroup_controllers() -> set[str]:
    """The cgroup controllers this machine lets containers use (v2's list, or v1's folders)."""
    root = Path("/sys/fs/cgroup")
    v2 = root / "cgroup.controllers"
    if v2.exists():
        return set(v2.read_text().split())
    return {name for name in ("cpu", "memory", "pids") if (root / name).is_dir()}


def limits_refused(limits: Limits) -> str | None:
    """Why the machine cannot apply ``limits`` (a missing controller), or None when it can."""
    have = cgroup_controllers()
    wanted = {"cpu"} if limits.cpu is not None else set()
    if limits.memory is not None:
        wanted.add("memory")
    missing = sorted(wanted - have)
    if missing:
        return f"this machine has no cgroup controller {', '.join(missing)}"
    return None


__all__ = ["Limits", "Spec", "cgroup_controllers", "limits_refused"]
