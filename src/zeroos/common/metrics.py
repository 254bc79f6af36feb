"""An HTTP part's Prometheus metrics at ``GET /metrics``: its requests, their time, its process.

:class:`~zeroos.common.asgi.AsgiServer` wraps every part's app in :class:`MetricsMiddleware`, so
zero-id, zero-hub and zero-robot expose the same families (the map's convention: every server
answers ``/metrics`` or zero-db's ``INFO``):

- ``zos_http_requests_total{part, method, route, status}``
- ``zos_http_request_duration_seconds{part, method, route}`` (a histogram)
- ``zos_http_requests_in_flight{part}``
- ``zos_info{part, version}`` (always 1) and the process's CPU, memory and open files.

``route`` is the route's template (``/api/flist/{user}``), never the path a client sent:
names in paths would make one series per flist, user or service. Requests no route took are
``route="other"``. The registry is the server's own, so several servers in one process (tests,
embedding) count apart. Nothing a client sends beyond method and status reaches a label.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from .._version import __version__

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

PATH = "/metrics"
# methods a label may carry; anything else a client invents is counted as OTHER
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# from a cached page (~1 ms) to a 500 MiB upload (minutes)
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Metrics:
    """One server's metric families, in a registry of its own."""

    def __init__(self, part: str) -> None:
        self.part = part
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        Gauge(
            "zos_info", "The part and its version.", ["part", "version"], registry=self.registry
        ).labels(part, __version__).set(1)
        self.requests = Counter(
            "zos_http_requests",
            "HTTP requests answered, by route template and status.",
            ["part", "method", "route", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "zos_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer.",
            ["part", "method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "zos_http_requests_in_flight",
            "Requests being answered now.",
            ["part"],
            registry=self.registry,
        ).labels(part)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        method = method if method in METHODS else "OTHER"
        self.requests.labels(self.part, method, route, str(status)).inc()
        self.seconds.labels(self.part, method, route).observe(seconds)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


def route_of(scope: Scope) -> str:
    """The template of the route that took a request (after the app ran), or ``"other"``."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(path, str):
        return f"{scope.get('root_path', '')}{path}"
    return "other"


class MetricsMiddleware:
    """An ASGI middleware that counts every HTTP request and answers ``GET /metrics`` itself."""

    def __init__(self, app: App, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # lifespan and websockets pass through
            return
        if scope["path"] == PATH and scope["method"] in ("GET", "HEAD"):
            await self._expose(scope, send)
            return
        status = 500  # what a request that broke before its answer started counts as
        started = time.perf_counter()

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, counting_send)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope["method"], route_of(scope), status, elapsed)

    async def _expose(self, scope: Scope, send: Send) -> None:
        body = self.metrics.exposition()
        headers = [
            (b"content-type", CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )


__all__ = ["Metrics", "MetricsMiddleware", "route_of"]
