"""Failed logins throttled per user (or client id) and per address, in memory.

After ``per_user`` failures for one name within ``window`` seconds, or ``per_address`` from one
address, further attempts are refused with 429 (and a Retry-After) before any password is
checked, until the oldest failure leaves the window. A success clears the name's count.
Counters live in this process: each zero-id instance throttles on its own.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
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

    def _recent(self, key: str, now: float) -> deque[float]:
        stamps = self._failures.get(key)
        if stamps is None:
            return deque()
        while stamps and stamps[0] <= now - self.limits.window:
            stamps.popleft()
        return stamps

    def check(self, name: str, address: str) -> None:
        """Raise Throttled when ``name`` or ``address`` failed too often lately."""
        now = time.monotonic()
        limits = self.limits
        with self._lock:
            for key, limit in (
                (f"u:{name}", limits.per_user),
                (f"a:{address}", limits.per_address),
            ):
                stamps = self._recent(key, now)
                if len(stamps) >= limit:
                    retry = stamps[-limit] + limits.window - now
                    what = "this account" if key.startswith("u:") else "this address"
                    raise Throttled(f"too many failed logins for {what}; retry later", retry)

    def failed(self, name: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (f"u:{name}", f"a:{address}"):
                stamps = self._recent(key, now)
                stamps.append(now)
                self._failures[key] = stamps
                self._failures.move_to_end(key)
            while len(self._failures) > _MAX_TRACKED:
                self._failures.popitem(last=False)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(f"u:{name}", None)


__all__ = ["Limits", "Throttle"]
