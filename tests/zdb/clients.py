"""Both zero-db clients behind one blocking face, so that one suite runs against each.

:class:`Caller` wraps a :class:`Client` as it is and an :class:`AsyncClient` on an event loop
of its own: a coroutine is run to its result, an async iterator becomes a lazy iterator (each
item fetched when asked for), so a test reads the same for both and every step it checks runs
through the client under test.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from zeroos.zdb import AsyncClient, Client
from zeroos.zdb.client.aio import AsyncZdbConnection
from zeroos.zdb.client.sync import ZdbConnection

KINDS = ("sync", "async")


class Caller:
    """A zero-db client (sync or async) with blocking methods."""

    def __init__(self, kind: str, **kwargs: Any) -> None:
        self.kind = kind
        self.loop = asyncio.new_event_loop() if kind == "async" else None
        self.client: Client | AsyncClient = (
            AsyncClient(**kwargs) if kind == "async" else Client(**kwargs)
        )
        self.connection_class = AsyncZdbConnection if kind == "async" else ZdbConnection

    @classmethod
    def from_url(cls, kind: str, url: str, **kwargs: Any) -> Caller:
        caller = cls.__new__(cls)
        caller.kind = kind
        caller.loop = asyncio.new_event_loop() if kind == "async" else None
        caller.client = (AsyncClient if kind == "async" else Client).from_url(url, **kwargs)
        caller.connection_class = AsyncZdbConnection if kind == "async" else ZdbConnection
        return caller

    def _run(self, awaitable: Any) -> Any:
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
        if self.loop is None:
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
        if isinstance(self.client, AsyncClient):
            self._run(self.client.aclose())
        else:
            self.client.close()

    def dispose(self) -> None:
        """Close the client and its event loop, for good."""
        self.close()
        if self.loop is not None:
            self.loop.close()

    def __enter__(self) -> Caller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
