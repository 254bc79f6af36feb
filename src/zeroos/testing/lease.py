"""``check_lease(make)``: the one conformance suite of :class:`zeroos.common.lease.LeaseBackend`.

``make()`` returns a backend over one lease record; each call a new one over the *same* record
(its own connection), as two servers contending for one database or namespace would have. The
suite runs against real stores (a zero-db key, a Tarantool row): see tests/common.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from ..common.lease import Lease, LeaseBackend, LeaseHeld, Owner

MakeBackend = Callable[[], LeaseBackend]


class LeaseCheckFailed(AssertionError):
    """A backend that does not keep a lease as LeaseBackend says."""


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise LeaseCheckFailed(what)


def _dead_owner() -> str:
    """The owner text of a process of this host that ran and exited (its pid is free)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    mine = Owner.mine()
    return str(Owner(mine.host, int(child.stdout), "dead", mine.pidns))


def _wait_expired(backend: LeaseBackend, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (held := backend.holder()) is not None and held.seconds_left > 0:
        if time.monotonic() > deadline:
            raise LeaseCheckFailed(f"a lease still has {held.seconds_left:.1f} s after {timeout} s")
        time.sleep(0.05)


def check_backend(make: MakeBackend) -> None:
    """The record: claim, refusal while held, steal, expiry, drop only by its owner."""
    a, b = make(), make()
    one, two = str(Owner.mine()), str(Owner.mine())
    _expect(a.holder() is None, "a new lease record is not empty")
    _expect(a.claim(one, 30) is None, "an empty lease was not taken")
    held = b.holder()
    _expect(held is not None and str(held.owner) == one, "the other side does not see the owner")
    _expect(held is not None and 25 < held.seconds_left <= 30, f"seconds left: {held}")
    refused = b.claim(two, 30)  # a lease taken while held
    _expect(refused is not None and str(refused.owner) == one, "a held lease was taken")
    _expect(str(getattr(a.holder(), "owner", "")) == one, "a refused claim changed the owner")
    _expect(a.claim(one, 30) is None, "the owner could not renew its lease")
    b.drop(two)  # not the owner: nothing happens
    _expect(str(getattr(a.holder(), "owner", "")) == one, "a drop by another owner removed it")
    _expect(b.claim(two, 30, steal=one) is None, "steal did not replace the named owner")
    _expect(str(getattr(a.holder(), "owner", "")) == two, "the steal did not write the new owner")
    _expect(a.claim(one, 30, steal="someone:1:else:") is not None, "steal replaced another owner")
    b.drop(two)
    _expect(a.holder() is None, "the owner's drop left the lease")
    _expect(a.claim(one, 0.3) is None, "a short lease was not taken")
    _wait_expired(b)
    _expect(b.claim(two, 30) is None, "an expired lease was not taken")
    b.drop(two)


def check_lease_over(make: MakeBackend) -> None:
    """The shared Lease over the backend: one holder, renewals, release, a dead holder."""
    first = Lease(make(), seconds=30)
    second = Lease(make(), seconds=30)
    first.acquire()
    try:
        try:
            second.acquire()
        except LeaseHeld as exc:
            _expect(exc.holding is not None and str(exc.holding.owner) == first.owner, str(exc))
        else:
            raise LeaseCheckFailed("a second Lease acquired a held lease")
        _expect(not second.held and first.renew(), "the holder could not renew")
        _expect(not second.renew() and second.lost, "a Lease renewed a lease it does not hold")
    finally:
        first.release()
    second = Lease(make(), seconds=30)
    second.acquire()  # free after a clean stop
    lost: list[bool] = []
    second.on_lost(lambda: lost.append(True))
    intruder = str(Owner.mine())
    make().claim(intruder, 30, steal=second.owner)  # taken from the holder by force
    _expect(not second.renew() and second.lost, "a holder did not notice its lease was taken")
    _expect(lost == [True], "on_lost did not run once when the lease was lost")
    second.release()  # not its lease any more: left alone
    held = make().holder()
    _expect(held is not None and str(held.owner) == intruder, "release dropped another's lease")
    make().drop(intruder)
    _expect(make().holder() is None, "the owner's drop left the lease")
    # a holder of this host that died (kill -9) is replaced at once, not at its expiry
    make().claim(_dead_owner(), 300)
    third = Lease(make(), seconds=30).acquire()
    try:
        held = make().holder()
        _expect(held is not None and str(held.owner) == third.owner, "a dead holder was kept")
    finally:
        third.release()
    _expect(make().holder() is None, "release did not delete the lease")


def check_lease(make: MakeBackend) -> None:
    """Run every check against ``make``'s backend (each needs the record empty at start)."""
    check_backend(make)
    check_lease_over(make)


__all__ = ["LeaseCheckFailed", "check_backend", "check_lease", "check_lease_over"]
