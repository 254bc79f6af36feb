"""The asyncio zero-db client against real servers: the same methods as the sync one, awaited."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.exceptions

from zeroos.testing import free_port
from zeroos.zdb import (
    AsyncClient,
    Client,
    HistoryEntry,
    KeyNotFound,
    NamespaceInfo,
    NamespaceNotFound,
    NoSpaceLeft,
    PermissionDenied,
    ReadOnly,
    ScanEntry,
    ZdbConnectionError,
    ZdbResponseError,
    ZdbTimeoutError,
)
from zeroos.zdb.client import encode_key
from zeroos.zdb.client.aio import AsyncZdbConnection

pytestmark = pytest.mark.both_engines

ADMIN = "secret"


async def blocking(action) -> None:
    """Run a blocking server action (restart, kill), then let the loop see what it closed.

    A running service's event loop notices at once that the server closed its sockets; a
    test that blocks the loop must let it catch up so that the closed pooled connections are
    seen (and replaced) instead of used, as they would be in real life. Caught up is a state,
    not a delay: a byte sent after the action is seen by the loop's poll (which reports every
    socket already closed with it, or saw them earlier), and this task resumes only after
    every callback of that poll ran.
    """
    action()
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


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_every_method(zdb):
    async def main() -> None:
        async with AsyncClient(port=zdb.port) as c:
            assert await c.ping() is True
            seconds, _micros = await c.time()
            assert abs(seconds - time.time()) < 60
            info = await c.info()
            assert info["server_name"] == "0-db (zdb)"
            assert await c.dbsize() == 0

            assert await c.set("k", "v1") == b"k"
            assert await c.set(b"k", b"v1") is None
            await c.set("k", "v2")
            assert await c.get("k") == b"v2"
            assert await c.get("missing") is None
            assert await c.mget(["k", "missing"]) == [b"v2", None]
            assert await c.mget([]) == []
            assert await c.exists("k") is True
            assert await c.check("k") is True
            assert await c.check("missing") is None
            assert await c.length("k") == 2
            assert await c.length("missing") is None
            stamp = await c.keytime("k")
            assert stamp is not None
            assert abs(stamp - time.time()) < 60
            assert await c.keytime("missing") is None

            versions = [v async for v in c.history("k")]
            assert [v.value for v in versions] == [b"v2", b"v1"]
            assert isinstance(versions[0], HistoryEntry)
            assert versions[0].cursor is None
            assert [v.value async for v in c.history("k", versions[1].cursor)] == [b"v1"]
            with pytest.raises(KeyNotFound):
                [v async for v in c.history("missing")]

            cursor = await c.keycur("k")
            assert await c.scan(cursor) == (cursor, [])
            await c.delete("k")
            assert await c.exists("k") is False
            with pytest.raises(KeyNotFound, match=r"^Key not found$"):
                await c.delete("k")
            with pytest.raises(KeyNotFound):
                await c.keycur("k")
            assert await c.scan() == (None, [])

            await c.nsnew("ns")
            assert await c.nslist() == ["default", "ns"]
            await c.nsset("ns", "password", "pw")
            await c.nsset("ns", "public", False)
            info_ns = await c.nsinfo("ns")
            assert isinstance(info_ns, NamespaceInfo)
            assert (info_ns.name, info_ns.password, info_ns.public) == ("ns", True, False)
            await c.select("ns", "pw")
            assert c.namespace == "ns"
            assert (await c.nsinfo()).name == "ns"
            await c.set("a", "1")
            await c.flush()
            assert await c.dbsize() == 0
            await c.select("default")
            await c.nsdel("ns")
            assert await c.nslist() == ["default"]
            assert await c.info()
            assert (await c.info())["commands_failed"] == 0  # no HELLO, no CLIENT SETINFO

    asyncio.run(main())


def test_scan_iter_across_batches(zdb):
    async def main() -> None:
        async with AsyncClient(port=zdb.port) as c:
            keys = [f"key-{i:04d}".encode() for i in range(270)]
            for key in keys:
                await c.set(key, b"x" * 3)
            _cursor, first = await c.scan()
            assert 0 < len(first) <= 100
            entries = [e async for e in c.scan_iter()]
            assert [e.key for e in entries] == keys
            assert entries[0] == ScanEntry(keys[0], 3, entries[0].timestamp)
            assert [e.key async for e in c.rscan_iter()] == keys[::-1]
            last = await c.keycur(keys[0])
            assert await c.rscan(last) == (last, [])

    asyncio.run(main())


def test_concurrent_tasks_share_a_bounded_pool(zdb):
    async def main() -> None:
        async with AsyncClient(port=zdb.port, max_connections=4) as c:
            await asyncio.gather(*(c.set(f"k{i}", str(i)) for i in range(300)))
            values = await asyncio.gather(*(c.get(f"k{i}") for i in range(300)))
            assert values == [str(i).encode() for i in range(300)]
            assert await c.dbsize() == 300

    asyncio.run(main())


def test_seq_mode(zdb_factory):
    server = zdb_factory("--mode", "seq")

    async def main() -> None:
        async with AsyncClient(port=server.port) as c:
            ids = [await c.insert(f"v{i}") for i in range(3)]
            assert ids == sorted(ids)
            assert len(set(ids)) == 3
            assert await c.get(ids[2]) == b"v2"
            assert await c.set(ids[0], "new") == encode_key(ids[0])
            assert await c.get(ids[0]) == b"new"
            with pytest.raises(KeyNotFound):
                await c.set(ids[-1] + 1000, "nope")

    asyncio.run(main())


def test_wait(zdb):
    async def main() -> None:
        async with AsyncClient(port=zdb.port) as c, AsyncClient(port=zdb.port) as other:
            started = time.monotonic()
            assert await c.wait("SET", 200) is None
            assert time.monotonic() - started < 3
            waiting = asyncio.ensure_future(c.wait("SET", 5000))
            while not waiting.done():
                await other.set("k", str(time.monotonic()))
                await asyncio.sleep(0.02)
            assert await waiting == "SET"

    asyncio.run(main())


def test_select_moves_every_pooled_connection(zdb):
    async def main() -> None:
        async with AsyncClient(port=zdb.port) as c:
            await c.nsnew("shared")

            async def wait_and_poke() -> str | None:
                waiting = asyncio.ensure_future(c.wait("SET", 5000))
                deadline = time.monotonic() + 5
                i = 0
                while not waiting.done() and time.monotonic() < deadline:
                    await c.set("poke", str(i))  # on another pooled connection
                    i += 1
                    await asyncio.sleep(0.02)
                return await waiting

            assert await wait_and_poke() == "SET"
            await c.select("shared")
            assert await wait_and_poke() == "SET"
            with pytest.raises(NamespaceNotFound):
                await c.select("nowhere")
            assert c.namespace == "shared"
        with Client(port=zdb.port, namespace="shared") as check:
            assert check.get("poke") is not None

    asyncio.run(main())


def test_errors(zdb):
    async def main() -> None:
        async with AsyncClient(port=zdb.port) as admin:
            await admin.nsnew("private")
            await admin.nsset("private", "password", "pw")
            await admin.nsset("private", "public", False)
            await admin.nsnew("small")
            await admin.nsset("small", "maxsize", 4)
            await admin.nsnew("worm")
            await admin.nsset("worm", "worm", True)
            with pytest.raises(ZdbResponseError) as info:
                await admin.nsset("default", "nope", "1")
            assert type(info.value) is ZdbResponseError
            assert str(info.value) == "Cannot update default namespace"
            assert isinstance(info.value.__cause__, redis.exceptions.ResponseError)
        async with AsyncClient(port=zdb.port, namespace="private", password="bad") as c:
            with pytest.raises(PermissionDenied, match=r"^Access denied$"):
                await c.ping()
        async with AsyncClient(port=zdb.port, namespace="private") as c:
            with pytest.raises(PermissionDenied, match=r"^Namespace protected and private$"):
                await c.ping()
        async with AsyncClient(port=zdb.port, namespace="missing") as c:
            with pytest.raises(NamespaceNotFound):
                await c.ping()
        async with AsyncClient(port=zdb.port, namespace="small") as c:
            with pytest.raises(NoSpaceLeft):
                await c.set("k", "12345")
        async with AsyncClient(port=zdb.port, namespace="worm") as c:
            await c.set("k", "v")
            with pytest.raises(ReadOnly, match="worm"):
                await c.set("k", "w")
            await c.nsset("worm", "lock", True)
            with pytest.raises(ReadOnly, match="locked"):
                await c.set("k2", "v")
            await c.nsset("worm", "freeze", True)
            with pytest.raises(ReadOnly, match="frozen"):
                await c.get("k")

    asyncio.run(main())


def test_admin_password_and_secure_auth(zdb_factory, monkeypatch):
    server = zdb_factory("--admin", ADMIN)
    sent: list[bytes] = []
    original = AsyncZdbConnection.send_command

    async def record(self, *args, **kwargs):
        sent.extend(a if isinstance(a, bytes) else str(a).encode() for a in args)
        return await original(self, *args, **kwargs)

    async def main() -> None:
        async with AsyncClient(port=server.port) as c:
            with pytest.raises(PermissionDenied, match=r"^Permission denied$"):
                await c.nsnew("x")
        async with AsyncClient(port=server.port, admin_password=ADMIN) as c:
            await c.nsnew("vault")
            await c.nsset("vault", "password", "pw")
            await c.nsset("vault", "public", False)
        monkeypatch.setattr(AsyncZdbConnection, "send_command", record)
        async with AsyncClient(
            port=server.port, admin_password=ADMIN, namespace="vault", password="pw", secure=True
        ) as c:
            await c.set("k", "v")
            await c.nsnew("made-securely")
            await blocking(server.restart)  # same port: reconnects prove both passwords again
            assert await c.get("k") == b"v"
            await c.nsnew("after-restart")
        async with AsyncClient(port=server.port, admin_password="wrong", secure=True) as c:
            with pytest.raises(PermissionDenied, match=r"^Access denied$"):
                await c.ping()

    asyncio.run(main())
    assert b"SECURE" in sent
    assert not set(sent) & {ADMIN.encode(), b"pw", b"wrong", b"HELLO"}


def test_restart_reapplies_the_namespace(zdb):
    async def main() -> None:
        async with AsyncClient(port=zdb.port) as admin:
            await admin.nsnew("app")
        async with AsyncClient(port=zdb.port, namespace="app") as c:
            await c.set("k", "v")
            await blocking(zdb.restart)
            assert await c.get("k") == b"v"
            assert await c.dbsize() == 1
            await blocking(zdb.kill)
            with pytest.raises(ZdbConnectionError, match=r"is it running\?$"):
                await c.get("k")
            await blocking(zdb.start)
            assert await c.get("k") == b"v"

    asyncio.run(main())


def test_deleted_namespace_is_never_replaced_by_default(zdb):
    async def main() -> None:
        async with AsyncClient(port=zdb.port) as admin, AsyncClient(port=zdb.port) as c:
            await admin.nsnew("gone")
            await admin.set("k", "in default")
            await c.select("gone")
            await c.set("k", "in gone")
            await admin.nsdel("gone")
            with pytest.raises(NamespaceNotFound, match="not available anymore"):
                await c.get("k")
            with pytest.raises(NamespaceNotFound, match=r"^Namespace not found$"):
                await c.get("k")

    asyncio.run(main())


def test_nothing_listening_fails_fast():
    port = free_port()

    async def main() -> ZdbConnectionError:
        async with AsyncClient(port=port, timeout=2) as c:
            with pytest.raises(ZdbConnectionError) as info:
                await c.ping()
            return info.value

    started = time.monotonic()
    error = asyncio.run(main())
    assert time.monotonic() - started < 1
    assert not isinstance(error, ZdbTimeoutError)
    assert str(error).startswith(f"cannot reach zero-db at 127.0.0.1:{port}: ")
    assert str(error).endswith("; is it running?")


def test_silent_server_times_out(silent_port):
    async def main() -> None:
        async with AsyncClient(port=silent_port, timeout=0.5) as c:
            with pytest.raises(ZdbTimeoutError, match=r"did not answer within 0\.5s"):
                await c.ping()
            with pytest.raises(ZdbTimeoutError):
                await c.wait("SET", 100)  # waits 0.1s plus the timeout, no longer

    started = time.monotonic()
    asyncio.run(main())
    assert 0.9 < time.monotonic() - started < 4


def test_unix_socket_and_url(zdb_factory):
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        path = str(Path(folder) / "zdb.sock")
        server = zdb_factory("--socket", path)

        async def main() -> None:
            async with AsyncClient(unix_socket=path) as c:
                await c.nsnew("u")
                await c.nsset("u", "password", "pw")
                await c.select("u", "pw")
                await c.set("k", "v")
                await c.aclose()
                assert await c.get("k") == b"v"  # reconnects, into "u" again
            async with AsyncClient.from_url(f"zdb://:pw@127.0.0.1:{server.port}/u") as c:
                assert c.namespace == "u"
                assert await c.get("k") == b"v"
                assert repr(c) == f"AsyncClient(127.0.0.1:{server.port}, namespace='u')"

        asyncio.run(main())
