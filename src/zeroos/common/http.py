"""JSON over HTTP to another part: httpx with a timeout always set, answers read one way.

A part's client says once how its service speaks (an :class:`HttpApi`: its name, its error
classes, where an error body keeps its reason, whether answers come in an envelope), then
makes a :class:`JsonClient` (or an :class:`AsyncJsonClient` in asyncio code) of it::

    API = HttpApi("zero-robot", RobotError, by_status={404: NotFound}, reason="message")
    http = JsonClient(url, API, timeout=30.0, headers={"Authorization": f"Bearer {token}"})
    services = http.call("GET", "/services")

What an answer means (its status, its body, its envelope) and how a failure becomes the part's
error is written once, in :class:`HttpApi`; the two clients only send and hand it the answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Generic, Self, TypeVar

import httpx

from .errors import ZosError

Timeout = float | httpx.Timeout
Refused = Callable[[str, int], ZosError]
H = TypeVar("H", httpx.Client, httpx.AsyncClient)

_TEXT_MAX: Final = 200  # of a body that is not JSON, quoted in an error
_CHUNK: Final = 1 << 20


class HttpSetupError(ZosError):
    """A client asked for without a timeout (every network call has one)."""


def _check_timeout(timeout: object) -> None:
    """Refuse a missing or unbounded timeout: a call that can hang forever is a bug."""
    if timeout is None or (isinstance(timeout, (int, float)) and timeout <= 0):
        raise HttpSetupError(f"an HTTP call needs a positive timeout, not {timeout!r}")
    if isinstance(timeout, httpx.Timeout) and None in (
        timeout.connect,
        timeout.read,
        timeout.write,
        timeout.pool,
    ):
        raise HttpSetupError(f"an HTTP call needs every phase bounded, not {timeout!r}")


@dataclass(frozen=True)
class HttpApi:
    """How one service answers, and which of the calling part's errors stand for what.

    ``error`` is the part's base error (an unknown refusal, an answer that is not the
    service's), ``unreachable`` the one for a service that cannot be reached (``error`` when
    not given), ``by_status`` a class by HTTP status; ``refused`` builds the error of a
    refusal from the reason and the status when the part's classes take more than a message.
    ``reason`` names the field of an error body that says why; ``envelope`` the field of every
    successful body that holds the answer (0-hub's ``{"status": ..., "payload": ...}``).
    """

    service: str
    error: type[ZosError]
    by_status: Mapping[int, type[ZosError]] = field(default_factory=dict)
    unreachable: type[ZosError] | None = None
    refused: Refused | None = None
    reason: str = "message"
    envelope: str | None = None

    def cannot_reach(self, url: str, exc: Exception) -> ZosError:
        """The part's error for a call that got no answer (refused, timed out, not HTTP)."""
        cls = self.unreachable or self.error
        return cls(f"cannot reach {self.service} at {url}: {exc}")

    def refusal(self, response: httpx.Response, body: Any) -> ZosError:
        """The part's error for a 4xx/5xx answer: the server's reason and the status."""
        reason = body.get(self.reason) if isinstance(body, dict) else None
        message = str(reason) if reason else response.text[:_TEXT_MAX] or response.reason_phrase
        status = response.status_code
        if self.refused is not None:
            return self.refused(message, status)
        return self.by_status.get(status, self.error)(f"{message} (HTTP {status})")

    def answer(self, response: httpx.Response) -> Any:
        """What a read answer says: its JSON (unwrapped from the envelope), its text, or None
        for an empty one; a refusal or a body that is not the service's raises."""
        body = _body(response)
        if response.is_error:
            raise self.refusal(response, body)
        if self.envelope is None:
            return body
        if not isinstance(body, dict) or self.envelope not in body:
            got = response.text[:_TEXT_MAX]
            raise self.error(
                f"{self.service} answered {response.request.url.path} without its "
                f"{self.envelope!r} envelope (HTTP {response.status_code}): {got!r}"
            )
        return body[self.envelope]


def _body(response: httpx.Response) -> Any:
    """The body: JSON when it says it is, else its text; None when empty."""
    if response.status_code == 204 or not response.content:
        return None
    if "json" not in response.headers.get("content-type", ""):
        return response.text
    try:
        return response.json()
    except ValueError:
        return response.text


def bearer_header(token: str | None) -> dict[str, str]:
    """The ``Authorization: bearer <token>`` header of a caller holding ``token`` (none without)."""
    return {"Authorization": f"bearer {token}"} if token else {}


def by_status(*classes: type[ZosError]) -> dict[int, type[ZosError]]:
    """``{cls.status: cls}`` of error classes that name the HTTP status they are answered with."""
    table: dict[int, type[ZosError]] = {}
    for cls in classes:
        status = getattr(cls, "status", None)
        if not isinstance(status, int):
            raise HttpSetupError(f"{cls.__name__} names no HTTP status (a class attribute)")
        table[status] = cls
    return table


class _Http(Generic[H]):
    """What both clients keep: the service's address, its API, and their httpx client."""

    def __init__(
        self,
        url: str,
        api: HttpApi,
        *,
        timeout: Timeout,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        _check_timeout(timeout)
        self.url = url.rstrip("/")
        self.api = api
        self.http: H = self._open(base_url=self.url, headers=dict(headers or {}), timeout=timeout)

    def _open(self, **options: Any) -> H:
        raise NotImplementedError

    def _kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if "timeout" in kwargs:
            _check_timeout(kwargs["timeout"])
        return kwargs


class JsonClient(_Http[httpx.Client]):
    """A blocking client of one service (httpx.Client); see the module's docstring."""

    def _open(self, **options: Any) -> httpx.Client:
        return httpx.Client(**options)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save(self, path: str, dest: str | Path, *, timeout: Timeout | None = None) -> int:
        """Write what ``path`` answers to ``dest`` (see :func:`download`); how many bytes.
        ``timeout``: this transfer's own (between two reads), else the client's."""
        return _stream_to(self.http, path, Path(dest), self.api, timeout or self.http.timeout)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; what it answered (:meth:`HttpApi.answer`)."""
        try:
            response = self.http.request(method, path, **self._kwargs(kwargs))
        except httpx.HTTPError as exc:
            raise self.api.cannot_reach(self.url, exc) from exc
        return self.api.answer(response)


class AsyncJsonClient(_Http[httpx.AsyncClient]):
    """:class:`JsonClient` for asyncio code (httpx.AsyncClient): the same calls, awaited."""

    def _open(self, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(**options)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request, awaited; what it answered (:meth:`HttpApi.answer`)."""
        try:
            answer = await self.http.request(method, path, **self._kwargs(kwargs))
        except httpx.HTTPError as exc:
            raise self.api.cannot_reach(self.url, exc) from exc
        return self.api.answer(answer)


def download(url: str, dest: str | Path, api: HttpApi, *, timeout: Timeout) -> int:
    """Write what ``url`` answers (redirects followed) to ``dest``; how many bytes.

    The body streams into a hidden ``.part`` file beside ``dest`` that replaces it once whole:
    ``dest`` is never half-written, and nothing is left behind on failure. A refusal, no
    answer, or a file that cannot be written is ``api``'s error, as for :meth:`JsonClient.call`
    (:meth:`JsonClient.save` does the same with a client's own connection).
    """
    _check_timeout(timeout)
    with httpx.Client(timeout=timeout, follow_redirects=True) as http:
        return _stream_to(http, url, Path(dest), api, timeout)


def _stream_to(http: httpx.Client, url: str, dest: Path, api: HttpApi, timeout: Timeout) -> int:
    _check_timeout(timeout)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with http.stream("GET", url, timeout=timeout) as response:
            if response.is_error:
                response.read()
                raise api.refusal(response, _body(response))
            size = 0
            with tmp.open("wb") as out:
                for chunk in response.iter_bytes(_CHUNK):
                    out.write(chunk)
                    size += len(chunk)
        tmp.replace(dest)
        return size
    except httpx.HTTPError as exc:
        raise api.cannot_reach(str(http.base_url.join(url)), exc) from exc
    except OSError as exc:
        raise api.error(f"cannot write {dest}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


__all__ = [
    "AsyncJsonClient",
    "HttpApi",
    "HttpSetupError",
    "JsonClient",
    "Timeout",
    "bearer_header",
    "by_status",
    "download",
]
