"""The shared ASGI server runner (zeroos.common.asgi): readiness, signals, graceful stop."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from zeroos.common.asgi import AsgiServer
from zeroos.common.errors import ZosError
from zeroos.common.harness import Child
from zeroos.common.service import listen_tcp, read_ready_file

from . import asgi_app
from .asgi_app import app


class PartError(ZosError):
    """A calling part's error."""


def wait_in_flight(url: str, caller: threading.Thread) -> None:
    """Return once the server is answering a slow request (the caller's), within 10 s."""
    deadline = time.monotonic() + 10
    with httpx.Client(timeout=5) as probe:
        while probe.get(f"{url}/in-flight").json() < 1:
            assert caller.is_alive(), "the slow request ended before it was seen in flight"
            assert time.monotonic() < deadline, "the slow request never reached the server"
            time.sleep(0.01)


def test_the_ready_file_appears_while_it_serves_and_goes_after(tmp_path: Path) -> None:
    ready = tmp_path / "t.ready"
    sock = listen_tcp("127.0.0.1", 0)
    server = AsgiServer(app, sock, part="test", ready_file=ready)
    assert not ready.exists()
    try:
        server.start()
        said = read_ready_file(ready)
        assert said is not None
        assert (said.part, said.pid, said.port) == ("test", os.getpid(), server.port)
        answer = httpx.get(f"http://{said.addresses[0]}/text", timeout=5)
        assert answer.text == "just text"
    finally:
        server.stop()
        sock.close()
    assert not ready.exists()
    assert os.listdir(tmp_path) == []


def test_a_stop_waits_for_requests_in_flight(tmp_path: Path) -> None:
    sock = listen_tcp("127.0.0.1", 0)
    server = AsgiServer(app, sock, part="test", ready_file=tmp_path / "r").start()
    answers: list[Any] = []

    def slow() -> None:
        answers.append(httpx.get(f"http://{server.where}/slow?seconds=0.5", timeout=5).json())

    caller = threading.Thread(target=slow)
    try:
        caller.start()
        wait_in_flight(f"http://{server.where}", caller)
        server.stop()
    finally:
        caller.join(10)
        sock.close()
    assert answers == [{"status": "success", "payload": "slept"}]
    assert not (tmp_path / "r").exists()


def test_a_taken_port_is_the_parts_error() -> None:
    held = listen_tcp("127.0.0.1", 0)
    try:
        port = held.getsockname()[1]
        with pytest.raises(PartError, match=f"cannot listen on 127.0.0.1:{port}: ") as caught:
            listen_tcp("127.0.0.1", port, PartError)
        assert "--port" in str(caught.value.hint)
    finally:
        held.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_gracefully(tmp_path: Path, signum: signal.Signals) -> None:
    ready = tmp_path / "child.ready"
    child = Child([sys.executable, asgi_app.__file__, str(ready)], ready, log=tmp_path / "log")
    child.start(30)
    try:
        url = f"http://{child.addresses[0]}"
        assert httpx.get(f"{url}/empty", timeout=5).status_code == 204
        answers: list[Any] = []
        caller = threading.Thread(
            target=lambda: answers.append(httpx.get(f"{url}/slow?seconds=1", timeout=10).json())
        )
        caller.start()
        wait_in_flight(url, caller)
        os.kill(child.pid, signum)
        caller.join(10)
        assert answers == [{"status": "success", "payload": "slept"}]  # answered, then stopped
        # the one signal is enough: it exits by itself (a second SIGTERM from child.stop could
        # land while the interpreter is finalising, when Python's handlers are gone)
        assert child.proc is not None
        assert child.proc.wait(10) == 0
    finally:
        child.kill()
    assert not ready.exists()
