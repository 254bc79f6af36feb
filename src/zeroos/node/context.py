"""What a command runs with: its job, and the node's state commands share."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol

from .lists import Lists

if TYPE_CHECKING:
    from .containers import Containers
    from .vms.host import VmHost

RESULT_TTL = 300.0  # seconds a result (and its flag and output) is kept: 0-core's 5 minutes

# stream:<id> messages carry meta = level << 16 | flags (0-core-client's Response.stream)
STDOUT_LEVEL = 1
STDERR_LEVEL = 2
EOF_SUCCESS = 0x2
EOF_ERROR = 0x4


@dataclass
class Job:
    """One command a client sent: its fields as sent, and what runs it."""

    id: str
    command: str
    arguments: Any
    queue: str | None = None
    max_time: int | None = None
    stream: bool = False
    tags: list[str] | None = None
    starttime: int = 0  # ms since the epoch, when it started running
    task: asyncio.Task[None] | None = None
    process: asyncio.subprocess.Process | None = None
    killed: bool = False
    container: int | None = None  # set by corex.dispatch: the job runs inside that container

    def describe(self) -> dict[str, Any]:
        """The job as job.list shows it: the command as sent, and when it started."""
        return {
            "cmd": {
                "id": self.id,
                "command": self.command,
                "arguments": self.arguments,
                "queue": self.queue,
                "max_time": self.max_time,
                "stream": self.stream,
                "tags": self.tags,
            },
            "starttime": self.starttime,
        }

    def kill(self, signum: int = signal.SIGTERM) -> None:
        """Stop the job: its process gets ``signum``; a job without one is cancelled."""
        self.killed = True
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signum)
        elif self.task is not None:
            self.task.cancel()


class JobTable(Protocol):
    """The running jobs, as job.* and core.kill see them."""

    def running(self) -> list[Job]: ...

    def find(self, job_id: str) -> Job | None: ...

    def submit(self, job: Job) -> None: ...


@dataclass
class NodeState:
    """What every command shares: the keyspace, the jobs, the files filesystem.open opened, VMs."""

    lists: Lists
    jobs: JobTable
    files: dict[str, IO[bytes]] = field(default_factory=dict)
    containers: Containers | None = None
    started: float = field(default_factory=time.time)
    vms: VmHost | None = None  # kvm.*: set by the node's main when it runs VMs


@dataclass
class Context:
    """One running job and the node it runs on."""

    job: Job
    node: NodeState

    def output(self, level: int, line: str, flags: int = 0) -> None:
        """Send one line of output to ``stream:<id>`` when the client asked for streaming."""
        if not self.job.stream:
            return
        message = {"message": {"message": line, "meta": level << 16 | flags, "epoch": time_ms()}}
        key = f"stream:{self.job.id}".encode()
        self.node.lists.push(key, [json.dumps(message).encode()])
        if flags:
            self.node.lists.expire(key, RESULT_TTL)


def time_ms() -> int:
    return int(time.time() * 1000)


__all__ = [
    "EOF_ERROR",
    "EOF_SUCCESS",
    "RESULT_TTL",
    "STDERR_LEVEL",
    "STDOUT_LEVEL",
    "Context",
    "Job",
    "JobTable",
    "NodeState",
    "time_ms",
]
