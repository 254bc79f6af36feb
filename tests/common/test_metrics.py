"""Every HTTP part answers GET /metrics (zeroos.common.metrics through AsgiServer)."""

from __future__ import annotations

import threading

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from prometheus_client.parser import text_string_to_metric_families

from zeroos.common.asgi import AsgiServer
from zeroos.common.service import listen_tcp


def _app() -> FastAPI:
    app = FastAPI()
    gate = threading.Event()

    @app.get("/items/{item}")
    def get_item(item: int) -> dict[str, int]:
        if item > 2:
            raise HTTPException(404, "no such item")
        return {"item": item}

    @app.post("/items", status_code=201)
    def add_item() -> dict[str, str]:
        return {"added": "yes"}

    @app.get("/wait")
    def wait() -> str:
        gate.wait(10)  # held open until the test has seen it in flight
        return "done"

    app.state.gate = gate
    return app


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _count(samples: dict, method: str, route: str, status: str) -> float:
    labels = (("method", method), ("part", "demo"), ("route", route), ("status", status))
    return samples.get(("zos_http_requests_total", labels), 0.0)


@pytest.fixture
def server():
    app = _app()
    sock = listen_tcp("127.0.0.1", 0)
    running = AsgiServer(app, sock, part="demo").start()
    try:
        yield running, app
    finally:
        app.state.gate.set()
        running.stop()
        sock.close()


def test_requests_are_counted_by_route_template_and_status(server) -> None:
    running, _ = server
    url = f"http://{running.where}"
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/items/1").status_code == 200
        assert client.get("/items/2").status_code == 200
        assert client.get("/items/3").status_code == 404
        assert client.post("/items").status_code == 201
        assert client.get("/no/such/route/x1").status_code == 404
        assert client.request("BREW", "/items/1").status_code == 405
        answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    samples = _samples(answer.text)
    assert _count(samples, "GET", "/items/{item}", "200") == 2
    assert _count(samples, "GET", "/items/{item}", "404") == 1
    assert _count(samples, "POST", "/items", "201") == 1
    # a path no route took is one series, whatever the path; an invented method is OTHER
    assert _count(samples, "GET", "other", "404") == 1
    assert _count(samples, "OTHER", "/items/{item}", "405") == 1
    # the paths clients sent never become labels (one series per name would grow without end)
    assert "/items/1" not in answer.text
    assert "x1" not in answer.text
    assert "BREW" not in answer.text
    labels = (("method", "GET"), ("part", "demo"), ("route", "/items/{item}"))
    assert samples[("zos_http_request_duration_seconds_count", labels)] == 3
    assert samples[("zos_info", (("part", "demo"), ("version", _version())))] == 1
    assert samples[("process_open_fds", ())] > 0
    # /metrics itself is not counted
    assert not [k for k in samples if ("route", "/metrics") in k[1]]


def test_in_flight_requests_are_seen_and_head_has_no_body(server) -> None:
    running, app = server
    url = f"http://{running.where}"
    answers: list[int] = []
    caller = threading.Thread(
        target=lambda: answers.append(httpx.get(f"{url}/wait", timeout=20).status_code)
    )
    caller.start()
    try:
        in_flight = 0.0
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(500):  # until the held request is seen, 10 s at most
                samples = _samples(client.get("/metrics").text)
                in_flight = samples[("zos_http_requests_in_flight", (("part", "demo"),))]
                if in_flight == 1 or not caller.is_alive():
                    break
                app.state.gate.wait(0.02)
            assert in_flight == 1
            app.state.gate.set()
            caller.join(20)
            assert answers == [200]
            samples = _samples(client.get("/metrics").text)
            assert samples[("zos_http_requests_in_flight", (("part", "demo"),))] == 0
            head = client.head("/metrics")
            assert head.status_code == 200
            assert head.content == b""
    finally:
        app.state.gate.set()
        caller.join(20)


def _version() -> str:
    from zeroos._version import __version__

    return __version__
