"""`zos zdb verify`, `compact` and `key` met by a new user: wrong paths, missing namespaces,
credentials given to the right server only (issue 11 item 17)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from zeroos.zdb import Client
from zeroos.zdb.chain.anchor import anchor

pytestmark = pytest.mark.embedded_only  # files on disk


def zos(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zeroos.cli.main", "zdb", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def one_error(out: subprocess.CompletedProcess[str]) -> str:
    """The single `error: ...` line a failed command printed (runpy's warning aside)."""
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    lines = [
        line
        for line in out.stderr.splitlines()
        if line.strip() and "found in sys.modules after import of package" not in line
    ]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# -- verify ---------------------------------------------------------------------------------
def test_verify_names_a_missing_folder_or_namespace(zdb_factory, tmp_path):
    server = zdb_factory()
    with Client(port=server.port) as client:
        client.set("k", b"v")
    line = one_error(zos("verify", "--server", f"127.0.0.1:{server.port}", "-n", "nosuch"))
    assert line == f"error: namespace 'nosuch' not found on 127.0.0.1:{server.port}"
    server.stop()
    data, index = str(server.datadir), str(server.indexdir)
    line = one_error(zos("verify", "--data", data, "--index", index, "-n", "nosuch"))
    assert line == f"error: namespace 'nosuch' not found in {index}"
    missing = str(tmp_path / "missing")
    line = one_error(zos("verify", "--data", data, "--index", missing))
    assert line == f"error: index folder {missing} not found"
    line = one_error(zos("verify", "--data", missing, "--index", index))
    assert line == f"error: data folder {missing} not found"
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_error(zos("verify", "--data", str(empty), "--index", str(empty)))
    assert line == f"error: no namespace with a chain in {empty}"
    assert tree(empty) == []
    assert zos("verify", "--data", data, "--index", index).returncode == 0


def test_verify_online_checks_every_namespace_as_offline_does(zdb_factory):
    server = zdb_factory()
    with Client(port=server.port) as client:
        client.set("k", b"default value")
        client.nsnew("second")
    with Client(port=server.port, namespace="second") as client:
        client.set("k", b"second value")
    online = zos("verify", "--server", f"127.0.0.1:{server.port}")
    assert online.returncode == 0, online.stderr
    server.stop()
    offline = zos("verify", "--data", str(server.datadir), "--index", str(server.indexdir))
    assert offline.returncode == 0, offline.stderr

    def names(out: subprocess.CompletedProcess[str]) -> list[str]:
        return [w.split("=")[1] for w in out.stdout.split() if w.startswith("namespace=")]

    assert names(online) == ["default", "second"]
    assert names(offline) == names(online)


class Recorder:
    """A TCP proxy in front of a server that keeps every byte its clients sent."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.sent = bytearray()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept)
        self._accepting.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            up = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
            for src, dst, keep in ((conn, up, True), (up, conn, False)):
                t = threading.Thread(target=self._pump, args=(src, dst, keep))
                t.start()
                self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, keep: bool) -> None:
        src.settimeout(0.2)
        try:
            while not self._stop.is_set():
                try:
                    data = src.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                if keep:
                    self.sent += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            src.close()  # each socket is the source of one pump: closed once

    def close(self) -> None:
        self._stop.set()
        self._accepting.join(timeout=10)
        for t in self._threads:
            t.join(timeout=10)
        self._listener.close()


@pytest.fixture
def recorder(zdb_factory) -> Iterator[tuple[object, Recorder]]:
    anchors = zdb_factory()
    proxy = Recorder(anchors.port)
    yield anchors, proxy
    proxy.close()


def test_verify_gives_the_anchor_server_its_own_credentials_never_the_admin_password(
    zdb_factory, recorder
):
    server = zdb_factory("--admin", "source-admin-secret")
    anchors, proxy = recorder
    with Client(port=server.port, admin_password="source-admin-secret") as client:
        client.set("k", b"v")
        with Client(port=anchors.port) as to:
            anchor(client, to)
    source = f"127.0.0.1:{server.port}"
    args = ["verify", "--server", source, "--admin", "source-admin-secret"]
    args += ["--anchors", f"127.0.0.1:{proxy.port}/default"]
    out = zos(*args)
    assert out.returncode == 0, out.stderr
    assert "anchors=1" in out.stdout
    assert b"SCAN" in proxy.sent  # the anchors were read through the proxy
    assert b"source-admin-secret" not in proxy.sent
    # the anchor server's own password, when it has one, is given with --anchor-admin
    zos(*args, "--anchor-admin", "anchor-side")
    assert b"anchor-side" in proxy.sent
    assert b"source-admin-secret" not in proxy.sent


def test_anchor_names_the_namespace_a_server_refused(zdb_factory):
    server = zdb_factory()
    anchors = zdb_factory()
    source, target = f"127.0.0.1:{server.port}", f"127.0.0.1:{anchors.port}"
    line = one_error(zos("anchor", "--server", source, "-n", "nosuch", "--to", target + "/default"))
    assert line == f"error: namespace 'nosuch' not found on {source}"
    line = one_error(zos("anchor", "--server", source, "--to", target + "/nowhere"))
    assert line == f"error: namespace 'nowhere' not found on anchor server {target}"
    with Client(port=server.port) as client:
        client.nsnew("private")
        client.nsset("private", "password", "secret")
        client.nsset("private", "public", False)
    line = one_error(zos("verify", "--server", source, "-n", "private"))
    assert line.startswith(f"error: namespace 'private' on {source}: "), line
    out = zos("anchor", "--server", source, "--to", target + "/default")
    assert out.returncode == 0, out.stderr


# -- compact --------------------------------------------------------------------------------
def test_compact_on_a_wrong_path_fails_and_makes_nothing(tmp_path):
    missing = tmp_path / "nowhere"
    line = one_error(zos("compact", "--data", str(missing / "d"), "--index", str(missing / "i")))
    assert line == f"error: data folder {missing / 'd'} not found"
    assert not missing.exists()
    # folders that are there but hold no zero-db: refused, and left as they were
    (tmp_path / "d").mkdir()
    (tmp_path / "i").mkdir()
    (tmp_path / "i" / "notes.txt").write_text("not a zero-db")
    before = tree(tmp_path)
    line = one_error(zos("compact", "--data", str(tmp_path / "d"), "--index", str(tmp_path / "i")))
    assert line == f"error: no namespaces in {tmp_path / 'i'}: is it a zero-db index folder?"
    assert tree(tmp_path) == before


# -- key ------------------------------------------------------------------------------------
def test_key_in_a_folder_without_one_says_so_and_makes_one_only_when_asked(zdb_factory, tmp_path):
    server = zdb_factory()
    out = zos("key", "--index", str(server.indexdir))
    assert out.returncode == 0, out.stderr
    with Client(port=server.port) as client:
        assert out.stdout.strip() == client.chain_head().public_key.hex()
    wrong = tmp_path / "wrong"
    line = one_error(zos("key", "--index", str(wrong)))
    assert line == f"error: no server key in {wrong} (give --create to make one)"
    assert not wrong.exists()
    made = zos("key", "--index", str(wrong), "--create")
    assert made.returncode == 0, made.stderr
    assert f"created a new server key in {wrong / 'zdb-identity.key'}" in made.stderr
    again = zos("key", "--index", str(wrong), "--create")
    assert again.stdout == made.stdout
    assert "created" not in again.stderr
