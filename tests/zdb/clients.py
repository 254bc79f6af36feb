"""Every zero-db client behind one blocking face, so that one suite runs against each.

:class:`Caller` wraps a :class:`Client` as it is, an :class:`AsyncClient` on an event loop of
its own, and a :class:`TrioClient` on a trio run in a thread of its own: a coroutine is run to
its result, an async iterator becomes a lazy iterator (each item fetched when asked for), so a
test reads the same for all and every step it checks runs through the client under test.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import trio

from zeroos.zdb import AsyncClient, Client, TrioClient
from zeroos.zdb.client.aio import AsyncZdbConnection
from zeroos.zdb.client.sync import ZdbConnection
from zeroos.zdb.client.triodriver import _Connection as TrioConnection

KINDS = ("sync", "async", "trio")
_CLIENTS: dict[str, tuple[type[Client | AsyncClient | TrioClient], type]] = {
    "sync": (Client, ZdbConnection),
    "async": (AsyncClient, AsyncZdbConnection),
    "trio": (TrioClient, TrioConnection),
}


class TrioThread:
    """A trio run in a thread of its own, where a trio client's calls are awaited."""

    def __init__(self) -> None:
        started = threading.Event()
        self._stop: trio.Event | None = None

        async def main() -> None:
            self.token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            started.set()
            await self._stop.wait()

        self._thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
        self._thread.start()
        if not started.wait(30):
            raise RuntimeError("the trio thread did not start")

    def run(self, awaitable: Awaitable[Any]) -> Any:
        async def wait() -> Any:
            return await awaitable

        return trio.from_thread.run(wait, trio_token=self.token)

    def close(self) -> None:
        if self._stop is not None:
            trio.from_thread.run_sync(self._stop.set, trio_token=self.token)
        self._thread.join(30)


class Caller:
    """A zero-db client (sync, asyncio or trio) with blocking methods."""

    def __init__(self, kind: str, **kwargs: Any) -> None:
        self._begin(kind)
        self.client = _CLIENTS[kind][0](**kwargs)

    @classmethod
    def from_url(cls, kind: str, url: str, **kwargs: Any) -> Caller:
        caller = cls.__new__(cls)
        caller._begin(kind)
        caller.client = _CLIENTS[kind][0].from_url(url, **kwargs)
        return caller

    def _begin(self, kind: str) -> None:
        self.kind = kind
        self.loop = asyncio.new_event_loop() if kind == "async" else None
        self.trio = TrioThread() if kind == "trio" else None
        self.connection_class = _CLIENTS[kind][1]

    def _run(self, awaitable: Any) -> Any:
        if self.trio is not None:
            return self.trio.run(awaitable)
        assert self.loop is not None
        return self.loop.run_until_complete(awaitable)

    def _iterate(self, items: AsyncIterator[Any]) -> Iterator[Any]:
        while True:
            try:
                yield self._run(items.__anext__())
            except StopAsyncIteration:
                return

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if inspect.isawaitable(result):
                return self._run(result)
            if isinstance(result, AsyncIterator):
                return self._iterate(result)
            return result

        return call

    def __repr__(self) -> str:
        return repr(self.client)

    def outside(self, action: Callable[[], object]) -> None:
        """Run a blocking server action (restart, kill), as the client's loop would see it.

        A running service's event loop notices at once that the server closed its sockets;
        this one runs only during calls, so it is run until it has polled once after the
        action (a byte sent after the action is seen by that poll, which reports every socket
        closed before it), so that the closed pooled connections are seen and replaced instead
        of used, as in real life. The sync client needs nothing: it checks its sockets.
        """
        action()
        if self.loop is None:  # the trio client checks its idle sockets before reuse
            return

        async def caught_up() -> None:
            loop = asyncio.get_running_loop()
            ours, theirs = socket.socketpair()
            with ours, theirs:
                seen: asyncio.Future[None] = loop.create_future()
                loop.add_reader(ours.fileno(), seen.set_result, None)
                try:
                    theirs.send(b".")
                    await asyncio.wait_for(seen, 30)
                finally:
                    loop.remove_reader(ours.fileno())

        self._run(caught_up())

    def close(self) -> None:
        """Close the client's connections (it reconnects if used again)."""
        if isinstance(self.client, AsyncClient | TrioClient):
            self._run(self.client.aclose())
        else:
            self.client.close()

    def dispose(self) -> None:
        """Close the client and its event loop, for good."""
        self.close()
        if self.loop is not None:
            self.loop.close()
        if self.trio is not None:
            self.trio.close()

    def __enter__(self) -> Caller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
