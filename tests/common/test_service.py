"""Readiness a machine reads: the ready file, the harness that waits for it, and both servers."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from zeroos._version import __version__
from zeroos.common.harness import Child, HarnessError, zos_serve
from zeroos.common.service import (
    Ready,
    ReadyFileError,
    bind_tcp,
    read_ready_file,
    ready_file,
    write_ready_file,
)
from zeroos.testing import ZdbProcess, free_port


def test_ready_file_round_trip_and_removal(tmp_path: Path) -> None:
    path = tmp_path / "x.ready"
    assert read_ready_file(path) is None
    with ready_file(path, "zdb", ["127.0.0.1:1", "unix:/tmp/s"]):
        data = json.loads(path.read_text())
        assert data == {
            "part": "zdb",
            "pid": os.getpid(),
            "addresses": ["127.0.0.1:1", "unix:/tmp/s"],
            "version": __version__,
        }
        assert read_ready_file(path) == Ready("zdb", os.getpid(), ["127.0.0.1:1", "unix:/tmp/s"])
    assert not path.exists()
    assert os.listdir(tmp_path) == []  # no temporary file left behind either
    assert Ready("id", 1, ["unix:/s", "[::1]:8080"]).port == 8080


def test_bad_ready_files_are_errors(tmp_path: Path) -> None:
    (tmp_path / "bad").write_text('{"part": "zdb"')
    with pytest.raises(ReadyFileError, match="is not a ready file"):
        read_ready_file(tmp_path / "bad")
    with pytest.raises(ReadyFileError, match="cannot write the ready file"):
        write_ready_file(tmp_path / "no-such-dir" / "x.ready", "zdb", [])


def test_zdb_serve_is_ready_when_its_file_says_so(
    zdb_processes: Callable[..., ZdbProcess],
) -> None:
    server = zdb_processes()
    assert server.child is not None
    ready = server.child.ready
    assert ready is not None
    assert (ready.part, ready.pid) == ("zdb", server.proc.pid if server.proc else -1)
    assert ready.addresses == [f"127.0.0.1:{server.port}"]
    assert server.client().ping()
    path = server.root / "zdb.ready"
    assert path.exists()
    assert server.stop() == 0
    assert not path.exists()


def test_zdb_serve_names_its_unix_socket(
    zdb_processes: Callable[..., ZdbProcess], tmp_path: Path
) -> None:
    sock = tmp_path / "zdb.sock"
    server = zdb_processes("--socket", str(sock))
    assert server.child is not None
    assert server.child.addresses == [f"127.0.0.1:{server.port}", f"unix:{sock}"]


def test_a_child_that_exits_first_is_one_error_with_its_log(tmp_path: Path) -> None:
    argv = zos_serve("zdb", "--port", "0", "--sync", "--synctime", "1")
    child = Child(argv, tmp_path / "z.ready", log=tmp_path / "z.log", name="zero-db")
    with pytest.raises(
        HarnessError, match=r"(?s)zero-db exited with 2 before it was ready.*synctime"
    ):
        child.start(30)
    assert child.proc is None


def test_a_child_that_never_gets_ready_is_killed(tmp_path: Path) -> None:
    child = Child([sys.executable, "-c", "import time; time.sleep(120)"], tmp_path / "r", name="x")
    with pytest.raises(HarnessError, match=r"x was not ready in 0\.5 s"):
        child.start(0.5)
    assert child.proc is None


def test_zero_id_serve_is_ready_when_its_file_says_so(tmp_path: Path) -> None:
    port = free_port()
    argv = zos_serve("id", "--port", str(port), "--data", str(tmp_path / "data"),
                     "--argon2-memory", "8192", "--argon2-time", "1")  # fmt: skip
    path = tmp_path / "id.ready"
    with Child(argv, path, log=tmp_path / "id.log", name="zero-id") as child:
        assert child.ready is not None
        assert child.ready.part == "id"
        assert child.addresses == [f"127.0.0.1:{port}"]
        answer = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=10)
        assert answer.status_code == 200
        assert path.exists()
    assert not path.exists()
    # the embedded zero-db was started by the harness too, and is gone with zero-id
    assert not (tmp_path / "data" / "zdb.ready").exists()


def test_bind_tcp_connections_get_tcp_nodelay_from_asyncio() -> None:
    """asyncio turns Nagle off only for sockets whose proto is IPPROTO_TCP; without it every
    small answer of a server on bind_tcp waited for the client's delayed ACK (about 40 ms)."""

    async def main() -> int:
        sock = bind_tcp("127.0.0.1", 0)
        seen: list[int] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            raw = writer.get_extra_info("socket")
            seen.append(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
            while not seen:
                await asyncio.sleep(0.01)
            writer.close()
        return seen[0]

    assert asyncio.run(main()) != 0
