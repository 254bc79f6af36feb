"""The shared JSON-over-HTTP client (zeroos.common.http) against a real uvicorn server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from zeroos.common.asgi import AsgiServer
from zeroos.common.errors import ZosError
from zeroos.common.http import (
    AsyncJsonClient,
    HttpApi,
    HttpSetupError,
    JsonClient,
    bearer_header,
    by_status,
    download,
)
from zeroos.common.service import listen_tcp

from .asgi_app import BLOB, app


class PartError(ZosError):
    """A calling part's base error."""

    status = 500


class NotFound(PartError):
    status = 404


class Gone(PartError):
    """The calling part's error for a service that is not there."""


class Refused(PartError):
    """A refusal built by the part itself (reason and status kept apart)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status_code = status


ENVELOPED = HttpApi(
    "test-hub", PartError, by_status(NotFound), unreachable=Gone, envelope="payload"
)
PLAIN = HttpApi("test-id", PartError, refused=Refused, reason="error_description")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = AsgiServer(app, listen_tcp("127.0.0.1", 0), part="test", graceful=1).start()
    try:
        yield f"http://{server.where}"
    finally:
        server.stop()
        server.sock.close()


def call(
    kind: str,
    url: str,
    api: HttpApi,
    path: str,
    timeout: Any = 5.0,
    per_call: Any = None,
    **kw: Any,
) -> Any:
    """One call through the blocking or the asyncio client (the same contract); ``timeout``
    is the client's, ``per_call`` the call's own."""
    if per_call is not None:
        kw["timeout"] = per_call
    if kind == "sync":
        with JsonClient(url, api, timeout=timeout) as client:
            return client.call("GET", path, **kw)

    async def one() -> Any:
        async with AsyncJsonClient(url, api, timeout=timeout) as aclient:
            return await aclient.call("GET", path, **kw)

    return asyncio.run(one())


KINDS = pytest.mark.parametrize("kind", ["sync", "async"])


@KINDS
def test_answers_are_unwrapped_and_typed(kind: str, url: str) -> None:
    assert call(kind, url, ENVELOPED, "/ok", params={"x": "1"}) == {"echo": "1"}
    assert call(kind, url, PLAIN, "/bare") == {"echo": "bare"}
    assert call(kind, url, PLAIN, "/text") == "just text"
    assert call(kind, url, PLAIN, "/empty") is None


@KINDS
def test_an_answer_without_the_envelope_is_the_parts_error(kind: str, url: str) -> None:
    with pytest.raises(PartError, match="without its 'payload' envelope") as caught:
        call(kind, url, ENVELOPED, "/bare")
    assert type(caught.value) is PartError
    with pytest.raises(PartError, match="without its 'payload' envelope"):
        call(kind, url, ENVELOPED, "/text")


@KINDS
def test_a_refusal_is_the_callers_error_with_the_servers_reason(kind: str, url: str) -> None:
    with pytest.raises(NotFound) as found:
        call(kind, url, ENVELOPED, "/refuse/404")
    assert str(found.value) == "refused with 404: the flist x does not exist (HTTP 404)"
    with pytest.raises(PartError) as other:  # a status the part has no class for: its base
        call(kind, url, ENVELOPED, "/refuse/409")
    assert type(other.value) is PartError
    assert "refused with 409" in str(other.value)
    with pytest.raises(Refused) as built:  # the part's own constructor, its own field
        call(kind, url, PLAIN, "/refuse/422")
    assert built.value.status_code == 422
    assert str(built.value) == "refused with 422: the flist x does not exist"
    with pytest.raises(PartError, match=r"Not Found \(HTTP 404\)"):  # no body: the phrase
        call(kind, url, ENVELOPED, "/no-such-route")


@KINDS
def test_the_timeout_fires(kind: str, url: str) -> None:
    started = time.monotonic()
    with pytest.raises(Gone, match=f"cannot reach test-hub at {url}"):
        call(kind, url, ENVELOPED, "/slow", timeout=0.3, params={"seconds": "3"})
    assert time.monotonic() - started < 2.5
    # a call's own timeout, longer than the client's, lets a slow answer through
    slow = call(kind, url, ENVELOPED, "/slow", timeout=0.3, per_call=5.0, params={"seconds": "0.6"})
    assert slow == "slept"


@KINDS
def test_a_server_that_is_not_there_is_the_parts_error(kind: str) -> None:
    sock = listen_tcp("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(Gone, match=f"cannot reach test-hub at http://127.0.0.1:{port}"):
        call(kind, f"http://127.0.0.1:{port}", ENVELOPED, "/ok")


@pytest.mark.parametrize(
    "timeout", [None, 0, -1.0, httpx.Timeout(None), httpx.Timeout(5, read=None)]
)
def test_a_client_without_a_timeout_is_refused(timeout: Any, url: str) -> None:
    with pytest.raises(HttpSetupError, match=r"needs (a positive timeout|every phase bounded)"):
        JsonClient(url, PLAIN, timeout=timeout)
    with pytest.raises(HttpSetupError):
        AsyncJsonClient(url, PLAIN, timeout=timeout)
    client = JsonClient(url, PLAIN, timeout=5.0)
    try:
        with pytest.raises(HttpSetupError):
            client.call("GET", "/ok", timeout=timeout)
    finally:
        client.close()


def test_the_bearer_header() -> None:
    assert bearer_header("t0k") == {"Authorization": "bearer t0k"}
    assert bearer_header(None) == bearer_header("") == {}


def test_by_status_needs_a_status() -> None:
    assert by_status(NotFound) == {404: NotFound}
    with pytest.raises(HttpSetupError, match="ZosError names no HTTP status"):
        by_status(ZosError)


def test_a_download_lands_whole_or_not_at_all(url: str, tmp_path: Path) -> None:
    dest = tmp_path / "got.bin"
    assert download(f"{url}/moved", dest, PLAIN, timeout=5.0) == len(BLOB)  # redirect followed
    assert dest.read_bytes() == BLOB
    with JsonClient(url, ENVELOPED, timeout=5.0) as client:
        assert client.save("/blob", tmp_path / "again.bin") == len(BLOB)
        with pytest.raises(NotFound, match=r"refused with 404: .* \(HTTP 404\)"):
            client.save("/refuse/404", tmp_path / "refused.bin")
        with pytest.raises(Gone, match="cannot reach test-hub"):
            client.save("/slow?seconds=3", tmp_path / "slow.bin", timeout=0.3)
        with pytest.raises(PartError, match="cannot write"):
            client.save("/blob", tmp_path / "no-such-folder" / "x.bin")
    with pytest.raises(HttpSetupError):
        download(f"{url}/blob", dest, PLAIN, timeout=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.bin", "got.bin"]  # no .part
