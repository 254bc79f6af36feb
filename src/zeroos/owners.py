"""Lease owners: which process holds a lease, and whether that process still runs.

zero-db on Tarantool and zero-id each keep a lease so that only one server uses a database
or namespace. A lease names its owner; a new server may take the lease at once when the
owner is a process of this very host that died (kill -9), instead of waiting for it to
expire. "This host" means the same host name *and* the same pid namespace: a process of
another container with the host's name is never judged by our pid table.
"""

from __future__ import annotations

import os
import socket


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


def process_gone(host: str, pid: int | None, pidns: str) -> bool:
    """Whether an owner was a process of this host and pid namespace that runs no more."""
    if host != socket.gethostname() or pidns != pid_namespace() or pid is None:
        return False  # another machine or container: only the lease's expiry tells
    return pid != os.getpid() and not pid_alive(pid)


__all__ = ["pid_alive", "pid_namespace", "process_gone"]
