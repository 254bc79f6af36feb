"""Lease owners: which process holds a lease, in one format, and whether it still runs.

zero-db on Tarantool and zero-id each keep a lease so that only one server uses a database or
namespace. A lease names its owner as ``host:pid:token:pidns`` (:class:`Owner`): the pid
namespace last, since it holds colons itself (``pid:[4026531836]``). A new server may take a
lease at once when its owner is a process of this very host that died (kill -9), instead of
waiting for it to expire. "This host" means the same host name *and* the same pid namespace: a
process of another container with the host's name is never judged by our pid table.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass


def pid_namespace() -> str:
    """This process's pid namespace ("" where /proc does not tell)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def pid_alive(pid: int) -> bool:
    """Whether a process of this pid namespace runs (True when it cannot be told)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True  # someone else's process (EPERM), or no answer: assume it lives
    return True


@dataclass(frozen=True, slots=True)
class Owner:
    """The process holding a lease: its host, pid, a random token, and its pid namespace."""

    host: str
    pid: int | None
    token: str = ""
    pidns: str = ""

    @classmethod
    def mine(cls) -> Owner:
        """This process, with a fresh token (two leases of one process differ)."""
        return cls(socket.gethostname(), os.getpid(), secrets.token_hex(6), pid_namespace())

    @classmethod
    def parse(cls, text: str, pidns: str = "") -> Owner:
        """An owner as written by :meth:`__str__` (or ``host:pid:token`` with ``pidns`` apart)."""
        host, pid, token, namespace = [*text.split(":", 3), "", "", ""][:4]
        return cls(host, int(pid) if pid.isdigit() else None, token, namespace or pidns)

    def __str__(self) -> str:
        return f"{self.host}:{'' if self.pid is None else self.pid}:{self.token}:{self.pidns}"

    def gone(self) -> bool:
        """Whether it was a process of this host and pid namespace that runs no more."""
        if self.host != socket.gethostname() or self.pidns != pid_namespace():
            return False  # another machine or container: only the lease's expiry tells
        return self.pid is not None and self.pid != os.getpid() and not pid_alive(self.pid)

    def describe(self) -> str:
        """``pid 1234 on host name``, for the error line of a refused start."""
        return f"pid {'?' if self.pid is None else self.pid} on host {self.host}"


__all__ = ["Owner", "pid_alive", "pid_namespace"]
