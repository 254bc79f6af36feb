"""Leases: one process at a time serves a database or namespace, kept in a small backend.

zero-db on Tarantool and zero-id each keep a lease so that only one server uses a database or
namespace. :class:`Lease` holds one (take, renew in a thread, release) over a
:class:`LeaseBackend`: where its one record lives (a zero-db key, a Tarantool row), with its
expiry on the backend's clock; ``zeroos.testing.lease.check_lease`` is the backends' one
conformance suite. A lease names its owner as ``host:pid:token:pidns`` (:class:`Owner`): the pid
namespace last, since it holds colons itself (``pid:[4026531836]``). A new server may take a
lease at once when its owner is a process of this very host that died (kill -9), instead of
waiting for it to expire. "This host" means the same host name *and* the same pid namespace: a
process of another container with the host's name is never judged by our pid table.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .errors import ZosError

log = logging.getLogger("zeroos.lease")


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


@dataclass(frozen=True, slots=True)
class Holding:
    """Who holds a lease, and the seconds it has left on the backend's clock (<= 0: expired)."""

    owner: Owner
    seconds_left: float

    def describe(self) -> str:
        """``pid 1234 on host name, lease ends in 12 s unless renewed``."""
        left = max(0, round(self.seconds_left))
        return f"{self.owner.describe()}, lease ends in {left} s unless renewed"


class LeaseBackend(Protocol):
    """Where one lease record lives: its owner (:class:`Owner`'s text) and its expiry."""

    # what the backend's calls raise when its store cannot be reached or refuses
    errors: tuple[type[Exception], ...]

    def holder(self) -> Holding | None:
        """The lease as it is now (expired or not), or None when there is none."""

    def claim(self, owner: str, seconds: float, steal: str | None = None) -> Holding | None:
        """Write ``owner``'s lease for ``seconds`` unless another owner's unexpired lease is
        there (``steal``: an owner whose lease may be replaced all the same). None when
        ``owner`` holds it now, else the holding that refused it."""

    def drop(self, owner: str) -> None:
        """Delete the lease if ``owner`` holds it (a clean stop); leave anyone else's."""


class LeaseError(ZosError):
    """A lease that cannot be held as asked (its timings)."""

    exit_code = 2


class LeaseHeld(ZosError):
    """Another live process holds the lease (``holding``; None: the lease just written went)."""

    def __init__(self, holding: Holding | None) -> None:
        self.holding = holding
        who = "nobody: the lease just written is gone" if holding is None else holding.describe()
        super().__init__(f"the lease is held by another process ({who})")


class Lease:
    """This process's lease in ``backend``: :meth:`acquire`, :meth:`start` (renewals in a
    thread), :meth:`release` (on a clean stop); :meth:`on_lost` callbacks when it is taken.

    ``confirm_after``: seconds to wait after taking it before reading it back, for backends
    without compare-and-set (a zero-db key), where two starts may both write it.
    """

    def __init__(
        self,
        backend: LeaseBackend,
        *,
        seconds: float,
        renew_every: float | None = None,
        confirm_after: float = 0.0,
        where: str = "lease",
    ) -> None:
        renew_every = seconds / 3 if renew_every is None else renew_every
        if not 0 < renew_every < seconds:
            raise LeaseError(
                f"lease: renewals every {renew_every:g} s must be more often than the "
                f"lease's {seconds:g} s"
            )
        if not 0 <= confirm_after < seconds:
            raise LeaseError(f"lease: confirmation after {confirm_after:g} s is too late")
        self.backend = backend
        self.seconds = seconds
        self.renew_every = renew_every
        self.confirm_after = confirm_after
        self.where = where  # for the log: what the lease guards
        mine = Owner.mine()
        self.owner = str(mine)
        self.pidns = mine.pidns
        self.held = False
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_lost: list[Callable[[], None]] = []

    def acquire(self) -> Lease:
        """Take the lease, or raise :class:`LeaseHeld`; the backend's errors pass through."""
        backend = self.backend
        before = backend.holder()
        steal = None
        if before is not None and before.owner != Owner.parse(self.owner):
            if before.seconds_left > 0 and not before.owner.gone():
                raise LeaseHeld(before)
            steal = str(before.owner)
        refused = backend.claim(self.owner, self.seconds, steal)
        if refused is not None:
            raise LeaseHeld(refused)
        if before is not None and steal is not None:
            reason = "expired" if before.seconds_left <= 0 else "holder_dead"
            log.warning(
                "event=lease_taken where=%s previous=%r reason=%s", self.where, steal, reason
            )
        if self.confirm_after:
            time.sleep(self.confirm_after)
            now = backend.holder()
            if now is None or str(now.owner) != self.owner:
                raise LeaseHeld(now)
        self.held = True
        log.info(
            "event=lease_acquired where=%s owner=%s seconds=%g",
            self.where,
            self.owner,
            self.seconds,
        )
        return self

    def renew(self) -> bool:
        """Extend the lease while it is still ours (True); else mark it lost (False)."""
        now = self.backend.holder()
        if now is None or str(now.owner) != self.owner:
            self._lose(now)
            return False
        refused = self.backend.claim(self.owner, self.seconds)
        if refused is not None:
            self._lose(refused)
            return False
        return True

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the renewal thread) when the lease is found lost."""
        self._on_lost.append(callback)
        if self.lost:
            callback()

    def start(self) -> Lease:
        """Renew the lease every ``renew_every`` seconds in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._renewals, name="lease", daemon=True)
            self._thread.start()
        return self

    def _renewals(self) -> None:
        failing = False
        while not self._stop.wait(self.renew_every):
            try:
                renewed = self.renew()
            except self.backend.errors as exc:
                if not failing:
                    log.warning("event=lease_renewal_failed where=%s error=%r", self.where, exc)
                failing = True
                continue
            if failing:
                log.info("event=lease_renewed where=%s", self.where)
                failing = False
            if not renewed:
                return

    def _lose(self, holding: Holding | None) -> None:
        self.lost = True
        self.held = False
        holder = "nobody (deleted)" if holding is None else holding.describe()
        log.error(
            "event=lease_lost where=%s holder=%r: another process took it; stopping, since "
            "this one can no longer trust what it keeps in memory",
            self.where,
            holder,
        )
        for callback in self._on_lost:
            callback()

    def release(self, timeout: float = 30.0) -> None:
        """Stop renewing and delete the lease if it is still ours (a clean stop)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)
        if not self.held:
            return
        self.held = False
        try:
            self.backend.drop(self.owner)
            log.info("event=lease_released where=%s", self.where)
        except self.backend.errors as exc:  # it expires by itself
            log.warning("event=lease_release_failed where=%s error=%r", self.where, exc)


__all__ = [
    "Holding",
    "Lease",
    "LeaseBackend",
    "LeaseError",
    "LeaseHeld",
    "Owner",
    "pid_alive",
    "pid_namespace",
]
