"""The node's keyspace: named lists of bytes with expiry and blocking pops, as 0-core keeps them.

Clients and jobs meet here: a client RPUSHes a job on ``core:default`` and waits on
``result:<id>``; the node pops jobs and pushes flags, results and output lines. Only lists
exist (0-core's redis answers list commands and nothing else a client needs).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable


class Lists:
    """Lists by name, each with an optional expiry; pops may wait for a push."""

    def __init__(self) -> None:
        self._lists: dict[bytes, deque[bytes]] = {}
        self._expires: dict[bytes, float] = {}
        # waiters of blocking pops, by key: each is woken (in arrival order) by a push
        self._waiters: dict[bytes, deque[asyncio.Future[None]]] = {}
        self._watchers: dict[bytes, Callable[[], None]] = {}

    def watch(self, key: bytes, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every push on ``key`` (the node's own consumer of a list:
        no waiter, no task switch between a client's push and its handling)."""
        self._watchers[key] = callback

    def _live(self, key: bytes) -> deque[bytes] | None:
        """The list at ``key`` unless it expired (then it is dropped)."""
        when = self._expires.get(key)
        if when is not None and when <= time.monotonic():
            self._lists.pop(key, None)
            del self._expires[key]
            return None
        return self._lists.get(key)

    def _wake(self, key: bytes) -> None:
        waiters = self._waiters.get(key)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def push(self, key: bytes, values: list[bytes], *, left: bool = False) -> int:
        """Append (or prepend) ``values``; the new length. A push keeps the key's expiry."""
        items = self._live(key)
        if items is None:
            items = self._lists[key] = deque()
        for value in values:
            if left:
                items.appendleft(value)
            else:
                items.append(value)
        size = len(items)
        watcher = self._watchers.get(key)
        if watcher is not None:
            watcher()
        else:
            for _ in values:
                self._wake(key)
        return size

    def pop(self, key: bytes, *, left: bool = True, into: bytes | None = None) -> bytes | None:
        """Take the first (or last) value of ``key``; None when it is empty or absent.

        With ``into``, the value is pushed at the head of that list in the same step
        (RPOPLPUSH): a list rotated onto itself keeps its expiry, as in redis.
        """
        items = self._live(key)
        if not items:
            return None
        value = items.popleft() if left else items.pop()
        if into is not None:
            self.push(into, [value], left=True)
        if not items:
            self.delete(key)
        return value

    async def wait_pop(
        self, keys: list[bytes], timeout: float, *, left: bool = True, into: bytes | None = None
    ) -> tuple[bytes, bytes] | None:
        """The first value pushed on any of ``keys`` within ``timeout`` seconds (0: forever),
        pushed on ``into`` when given (BRPOPLPUSH)."""
        deadline = time.monotonic() + timeout if timeout > 0 else None
        loop = asyncio.get_running_loop()
        while True:
            for key in keys:
                value = self.pop(key, left=left, into=into)
                if value is not None:
                    return key, value
            left_time = None if deadline is None else deadline - time.monotonic()
            if left_time is not None and left_time <= 0:
                return None
            waiter: asyncio.Future[None] = loop.create_future()
            for key in keys:
                self._waiters.setdefault(key, deque()).append(waiter)
            try:
                async with asyncio.timeout(left_time):
                    await waiter
            except TimeoutError:
                return None
            finally:
                for key in keys:
                    queue = self._waiters.get(key)
                    if queue is not None:
                        if waiter in queue:
                            queue.remove(waiter)
                        if not queue:
                            del self._waiters[key]

    def range(self, key: bytes, start: int, stop: int) -> list[bytes]:
        """LRANGE's slice (inclusive ``stop``, negative indexes from the end)."""
        items = list(self._live(key) or ())
        size = len(items)
        start = max(start + size if start < 0 else start, 0)
        stop = stop + size if stop < 0 else min(stop, size - 1)
        return items[start : stop + 1] if start <= stop else []

    def length(self, key: bytes) -> int:
        return len(self._live(key) or ())

    def exists(self, key: bytes) -> bool:
        return bool(self._live(key))

    def expire(self, key: bytes, seconds: float) -> bool:
        """Drop ``key`` after ``seconds``; False when there is no such list."""
        if not self._live(key):
            return False
        self._expires[key] = time.monotonic() + seconds
        return True

    def ttl(self, key: bytes) -> int:
        """Seconds left to ``key`` (rounded up); -1 without expiry, -2 when absent."""
        if not self._live(key):
            return -2
        when = self._expires.get(key)
        if when is None:
            return -1
        return max(int(when - time.monotonic() + 0.999), 0)

    def delete(self, key: bytes) -> bool:
        self._expires.pop(key, None)
        return self._lists.pop(key, None) is not None

    def sweep(self) -> None:
        """Drop every expired list (results nobody came back for)."""
        now = time.monotonic()
        for key in [k for k, when in self._expires.items() if when <= now]:
            self.delete(key)


__all__ = ["Lists"]
