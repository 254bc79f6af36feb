"""An HTTP part's server: its ASGI app served by uvicorn on a socket the part bound.

The part binds first (:func:`zeroos.common.service.listen_tcp`, so that a taken port is its own
clear error before anything starts), builds its app, and hands both to :class:`AsgiServer`::

    server = AsgiServer(create_app(...), sock, part="robot", ready_file=settings.ready_file)
    server.run()  # until SIGINT or SIGTERM; the ready file exists while it accepts requests

:meth:`AsgiServer.run` serves in the foreground: the ready file (:mod:`zeroos.common.service`)
is written once uvicorn accepts requests and removed when it stops; SIGINT and SIGTERM stop it
gracefully (requests in flight get ``graceful`` seconds), and so does
:meth:`AsgiServer.shutdown` from any thread. :meth:`AsgiServer.start` serves in a thread
instead (tests, embedding), and :meth:`AsgiServer.stop` stops that thread.
uvicorn's access log stays off: query strings of old clients may carry tokens. Every app
answers ``GET /metrics`` (:mod:`zeroos.common.metrics`: its requests by route template, their
time, its process).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn

from .address import format_hostport
from .errors import ZosError
from .metrics import Metrics, MetricsMiddleware
from .service import ReadyFile, call_on_signals


class AsgiServerError(ZosError):
    """An ASGI server that did not start, or stop, in time."""


class AsgiServer:
    """``app`` on ``sock`` (listening already) until stopped; see the module's docstring.

    ``trusted_proxies`` (comma-separated addresses) are believed when they send
    X-Forwarded-For; none by default (uvicorn would otherwise believe 127.0.0.1, and any local
    client could pick the address it is seen from). ``on_stop`` is awaited in the server's
    loop once it stopped (to close the app's own async clients).
    """

    def __init__(
        self,
        app: Any,
        sock: socket.socket,
        *,
        part: str,
        ready_file: str | Path | None = None,
        verbose: bool = False,
        trusted_proxies: str = "",
        graceful: int = 5,
        on_stop: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.sock = sock
        self.metrics = Metrics(part)
        self.ready = ReadyFile(ready_file, part)
        self.on_stop = on_stop
        host, port = sock.getsockname()[:2]
        self.where = format_hostport(host, port)
        config = uvicorn.Config(
            MetricsMiddleware(app, self.metrics),
            log_config=None,
            log_level="info" if verbose else "warning",
            access_log=False,
            timeout_graceful_shutdown=graceful,
            proxy_headers=bool(trusted_proxies),
            forwarded_allow_ips=trusted_proxies or None,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()  # set once it accepts requests and said so

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def started(self) -> bool:
        """Whether it accepts requests (and its ready file is written)."""
        return self._ready.is_set()

    def shutdown(self) -> None:
        """Ask it to stop gracefully (from any thread or a signal handler); :meth:`run` returns
        once requests in flight are answered."""
        self.server.should_exit = True

    def run(self) -> None:
        """Serve in this thread until :meth:`stop`, SIGINT or SIGTERM (in the main thread)."""
        if threading.current_thread() is threading.main_thread():
            # before uvicorn takes the signals over (and after, when it gives them back and
            # raises the one that stopped it again): a signal stops it, never kills it half-way
            call_on_signals(self.shutdown)
        factory = self.server.config.get_loop_factory()
        try:
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(self._serve())
        finally:
            self.ready.remove()

    async def _serve(self) -> None:
        serving = asyncio.ensure_future(self.server.serve(sockets=[self.sock]))
        try:
            while not self.server.started and not serving.done():
                await asyncio.sleep(0.01)
            if self.server.started:
                self.ready.write([self.where])
                self._ready.set()
            await serving
        finally:
            self._ready.clear()
            self.ready.remove()
            if self.on_stop is not None:
                await self.on_stop()

    def start(self, timeout: float = 20.0) -> AsgiServer:
        """Serve in a thread; return once it accepts requests (AsgiServerError if it did not
        within ``timeout`` seconds)."""
        name = f"{self.ready.part}-asgi"
        self._thread = threading.Thread(target=self.run, name=name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.01):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.shutdown()
                raise AsgiServerError(f"{self.ready.part} did not start on {self.where}")
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the thread :meth:`start` began and wait for it (AsgiServerError if it hangs)."""
        self.shutdown()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise AsgiServerError(f"{self.ready.part} on {self.where} did not stop")


__all__ = ["AsgiServer", "AsgiServerError"]
