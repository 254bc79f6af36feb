"""Password guesses slowed down, per client address and per connection, without blocking anyone.

Every try of a password (AUTH, AUTH SECURE, SELECT with a password or a SECURE hash, AUTH SIGNED)
asks :meth:`GuessThrottle.delay` how long its reply must wait, then reports a failure with
:meth:`GuessThrottle.failed`. An address (or a connection) that failed fewer than ``free`` times
is answered at once; after that each try waits ``first`` seconds, doubling with every failure up
to ``cap``, and the tries of one address are answered one after the other, each at most ``cap``
after the previous one: more connections do not buy more guesses. Successful tries wait too, so
that a fast reply never tells a right guess from a wrong one. An address forgets one failure per
``forgive`` seconds. The table of addresses is bounded (the least recently seen go first); a
connection keeps its own count, so an evicted address does not make a connection fast again.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

FREE_FAILURES = 10
FIRST_DELAY = 0.05  # seconds
MAX_DELAY = 2.0
FORGIVE_SECONDS = 10.0
MAX_ADDRESSES = 4096
# past this many failures the delay is at its cap anyway: a bound on what must be forgiven
_MAX_REMEMBERED = FREE_FAILURES + 32


@dataclass(slots=True)
class _Address:
    failures: float
    stamp: float  # when failures was last decayed (monotonic seconds)
    answer_at: float  # when the latest slowed try of this address is answered


class GuessThrottle:
    """Failures per client address, and the delays they cost (see the module's docstring)."""

    def __init__(
        self,
        *,
        free: int = FREE_FAILURES,
        first: float = FIRST_DELAY,
        cap: float = MAX_DELAY,
        forgive: float = FORGIVE_SECONDS,
        size: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = free
        self.first = first
        self.cap = cap
        self.forgive = forgive
        self.size = size
        self._clock = clock
        self._addresses: OrderedDict[str, _Address] = OrderedDict()

    def _entry(self, address: str, now: float) -> _Address:
        entry = self._addresses.get(address)
        if entry is None:
            entry = self._addresses[address] = _Address(0.0, now, now)
            while len(self._addresses) > self.size:
                self._addresses.popitem(last=False)
        else:
            self._addresses.move_to_end(address)
            entry.failures = max(0.0, entry.failures - (now - entry.stamp) / self.forgive)
            entry.stamp = now
        return entry

    def delay(self, address: str, connection_failures: int) -> float:
        """Seconds the reply of a password try must wait (0 within the free tries)."""
        now = self._clock()
        entry = self._entry(address, now)
        failures = max(entry.failures, connection_failures)
        if failures < self.free:
            return 0.0
        step = min(self.first * 2 ** (failures - self.free), self.cap)
        entry.answer_at = max(now, entry.answer_at) + step
        return entry.answer_at - now

    def failed(self, address: str) -> int:
        """Count a wrong password from address; returns its failures (after forgiveness)."""
        entry = self._entry(address, self._clock())
        entry.failures = min(entry.failures + 1, _MAX_REMEMBERED)
        return int(entry.failures)

    def __len__(self) -> int:
        return len(self._addresses)


__all__ = ["FREE_FAILURES", "MAX_DELAY", "GuessThrottle"]
