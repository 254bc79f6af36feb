"""Failed logins throttled per user (or client id) and per address, in memory.

After ``per_user`` failures for one name within ``window`` seconds, or ``per_address`` from one
address, further attempts are refused with 429 (and a Retry-After) before any password is
checked, until the oldest failure leaves the window. A success clears the name's count.
Counters live in this process: each zero-id instance throttles on its own.

An attempt is counted as failed from the moment it starts (:meth:`Throttle.attempt`), not once
argon2 has answered: otherwise many guesses sent at once would all pass the check while the
first ones are still being hashed. Its stamp is taken back when it succeeds or cannot be
checked (zero-db down).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from .errors import Throttled

_MAX_TRACKED: Final = 100_000  # names + addresses remembered; the oldest are forgotten first


@dataclass(frozen=True, slots=True)
class Limits:
    per_user: int = 5
    per_address: int = 20
    window: float = 300.0


class Throttle:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        self.failed_total = 0  # attempts that failed (wrong password or secret)
        self.refused_total = 0  # attempts refused with 429, never checked

    def _recent(self, key: str, now: float) -> deque[float]:
        stamps = self._failures.get(key)
        if stamps is None:
            return deque()
        while stamps and stamps[0] <= now - self.limits.window:
            stamps.popleft()
        return stamps

    def _keys(self, name: str, address: str) -> tuple[tuple[str, int], tuple[str, int]]:
        return (f"u:{name}", self.limits.per_user), (f"a:{address}", self.limits.per_address)

    def reserve(self, name: str, address: str) -> float:
        """Count one attempt for ``name`` and ``address`` as failed, or raise Throttled when
        either is at its limit; the stamp returned takes it back (:meth:`release`)."""
        now = time.monotonic()
        window = self.limits.window
        with self._lock:
            keys = self._keys(name, address)
            for key, limit in keys:
                stamps = self._recent(key, now)
                if len(stamps) >= limit:
                    self.refused_total += 1
                    retry = stamps[-limit] + window - now
                    what = "this account" if key.startswith("u:") else "this address"
                    raise Throttled(f"too many failed logins for {what}; retry later", retry)
            for key, _ in keys:
                stamps = self._recent(key, now)
                stamps.append(now)
                self._failures[key] = stamps
                self._failures.move_to_end(key)
            while len(self._failures) > _MAX_TRACKED:
                self._failures.popitem(last=False)
        return now

    def release(self, name: str, address: str, stamp: float) -> None:
        """Take back an attempt reserved at ``stamp`` (it did not fail)."""
        with self._lock:
            for key, _ in self._keys(name, address):
                stamps = self._failures.get(key)
                if stamps is not None and stamp in stamps:
                    stamps.remove(stamp)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(f"u:{name}", None)

    @contextmanager
    def attempt(self, name: str, address: str, failure: type[BaseException]) -> Iterator[None]:
        """One login attempt: reserved before the body runs (raises Throttled when over the
        limit); it stays counted if the body raises ``failure``, and is taken back (clearing
        the name's count) if the body returns, or taken back only if it raises anything else."""
        stamp = self.reserve(name, address)
        try:
            yield
        except failure:
            with self._lock:
                self.failed_total += 1
            raise
        except BaseException:
            self.release(name, address, stamp)
            raise
        self.release(name, address, stamp)
        self.succeeded(name)


__all__ = ["Limits", "Throttle"]
