"""Both zero-db clients against real servers, one suite: every test runs on the sync
:class:`Client` and on the asyncio :class:`AsyncClient` (through :class:`.clients.Caller`).

Commands and their replies, errors, namespaces and passwords, reconnects, timeouts. What only
one driver has (threads sharing a pool, tasks on one loop) stays in test_client.py and
test_aioclient.py.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis.exceptions

from zeroos.testing import free_port
from zeroos.zdb import (
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
from zeroos.zdb.client import encode_key, parse_url

from .clients import KINDS, Caller

pytestmark = pytest.mark.both_engines

ADMIN = "secret"


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Which client the test runs on: "sync", "async" or "trio"."""
    return str(request.param)


@pytest.fixture
def connect(kind: str) -> Iterator[Callable[..., Caller]]:
    """Make clients of this test's kind (Client's arguments); each is closed at the end."""
    made: list[Caller] = []

    def make(**kwargs: object) -> Caller:
        made.append(Caller(kind, **kwargs))
        return made[-1]

    def from_url(url: str, **kwargs: object) -> Caller:
        made.append(Caller.from_url(kind, url, **kwargs))
        return made[-1]

    make.from_url = from_url  # type: ignore[attr-defined]
    yield make
    for caller in made:
        caller.dispose()


@pytest.fixture
def client(zdb, connect) -> Caller:
    """A client of a fresh server without admin password, in the default namespace."""
    return connect(port=zdb.port)


@pytest.fixture
def admin_zdb(zdb_factory):
    """A server with the admin password ADMIN."""
    return zdb_factory("--admin", ADMIN)


def make_namespace(admin: Caller, name: str, password: str | None = None, **props) -> None:
    admin.nsnew(name)
    if password is not None:
        admin.nsset(name, "password", password)
    for prop, value in props.items():
        admin.nsset(name, prop, value)


def test_ping_time_info_dbsize(client):
    assert client.ping() is True
    seconds, micros = client.time()
    assert abs(seconds - time.time()) < 60
    assert 0 <= micros < 1_000_000
    info = client.info()
    assert info["server_name"] == "0-db (zdb)"
    assert isinstance(info["uptime"], int)
    assert isinstance(info["network_rx_mb"], float)
    assert client.dbsize() == 0
    client.set("a", "1")
    assert client.dbsize() == 1


def test_no_redis_handshake_commands(client):
    """protocol=2 and no driver info: no HELLO, no CLIENT SETINFO the server would refuse."""
    for _ in range(3):
        client.ping()
        client.close()
    assert client.info()["commands_failed"] == 0


def test_set_returns_key_and_nil_when_unchanged(client):
    assert client.set("key", "value") == b"key"
    assert client.set(b"key", b"value") is None
    assert client.set("key", "other") == b"key"
    assert client.get("key") == b"other"
    assert client.get(b"key") == b"other"
    assert client.get("missing") is None


def test_binary_and_text_values(client):
    blob = bytes(range(256)) * 10
    client.set(b"\x00\xff", blob)
    assert client.get(b"\x00\xff") == blob
    client.set("ünïcode", "välue")
    assert client.get("ünïcode") == "välue".encode()
    client.set("empty", b"")
    assert client.get("empty") == b""


def test_mget_in_order_across_batches(client):
    for i in range(0, 1500, 2):
        client.set(f"k{i}", str(i))
    values = client.mget(f"k{i}" for i in range(1500))
    assert len(values) == 1500
    assert values[:4] == [b"0", None, b"2", None]
    assert values[1498] == b"1498"
    assert client.mget([]) == []


def test_delete_exists_and_missing_key(client):
    client.set("k", "v")
    assert client.exists("k") is True
    assert client.delete("k") is None  # the server's +OK
    assert client.exists("k") is False
    assert client.get("k") is None
    with pytest.raises(KeyNotFound, match=r"^Key not found$"):
        client.delete("k")


def test_check_length_keytime(client):
    before = int(time.time()) - 1
    client.set("k", "hello")
    assert client.check("k") is True
    assert client.length("k") == 5
    stamp = client.keytime("k")
    assert stamp is not None
    assert before <= stamp <= time.time() + 1
    assert client.check("missing") is None
    assert client.length("missing") is None
    assert client.keytime("missing") is None


def test_keycur_continues_a_scan_after_the_key(client):
    for i in range(5):
        client.set(f"k{i}", "v")
    cursor = client.keycur("k2")
    assert isinstance(cursor, bytes)
    assert [e.key for e in client.scan_iter(cursor)] == [b"k3", b"k4"]
    with pytest.raises(KeyNotFound):
        client.keycur("missing")


def test_scan_iter_walks_every_key_in_batches(client):
    keys = [f"key-{i:04d}".encode() for i in range(320)]
    for key in keys:
        client.set(key, key * 2)
    cursor, first = client.scan()
    assert 0 < len(first) <= 100  # the server sends batches of at most 100
    assert isinstance(cursor, bytes)
    assert first[0] == ScanEntry(keys[0], 16, first[0].timestamp)
    entries = list(client.scan_iter())
    assert [e.key for e in entries] == keys
    assert all(e.size == 16 for e in entries)
    assert [e.key for e in client.rscan_iter()] == keys[::-1]
    # the raw call says "no more data" with an empty batch and the cursor it was given
    last = client.keycur(keys[-1])
    assert client.scan(last) == (last, [])
    assert client.rscan(client.keycur(keys[0])) == (client.keycur(keys[0]), [])


def test_scan_of_an_empty_namespace(client):
    assert client.scan() == (None, [])
    assert client.rscan() == (None, [])
    assert list(client.scan_iter()) == []


def test_scan_rejects_a_foreign_cursor(client):
    client.set("k", "v")
    with pytest.raises(ZdbResponseError, match="Invalid key format"):
        client.scan(b"not a cursor")


def test_history_lists_versions_newest_first(client):
    for value in (b"v1", b"v2", b"v3"):
        client.set("k", value)
    versions = list(client.history("k"))
    assert [v.value for v in versions] == [b"v3", b"v2", b"v1"]
    assert versions[0].cursor is None
    assert all(isinstance(v, HistoryEntry) and v.cursor for v in versions[1:])
    assert all(abs(v.timestamp - time.time()) < 60 for v in versions)
    # resuming from a version's cursor gives that version and the older ones
    assert [v.value for v in client.history("k", versions[1].cursor)] == [b"v2", b"v1"]
    with pytest.raises(KeyNotFound):
        list(client.history("missing"))


def test_seq_mode_insert_get_update(zdb_factory, connect):
    server = zdb_factory("--mode", "seq")
    with connect(port=server.port) as c:
        ids = [c.insert(f"value {i}") for i in range(3)]
        assert ids == sorted(ids)
        assert len(set(ids)) == 3
        assert all(isinstance(i, int) for i in ids)
        assert c.get(ids[1]) == b"value 1"
        assert c.set(ids[1], "changed") == encode_key(ids[1])
        assert c.set(ids[1], "changed") is None
        assert c.get(ids[1]) == b"changed"
        assert c.mget(ids) == [b"value 0", b"changed", b"value 2"]
        assert sorted(e.seq_id for e in c.scan_iter()) == ids  # scan follows write order
        assert c.nsinfo().mode == "seq"
        with pytest.raises(KeyNotFound, match="only update authorized"):
            c.set(ids[-1] + 1000, "nope")


def test_seq_namespace_on_a_mixed_server(client):
    client.nsnew("seqs")
    client.nsset("seqs", "mode", "seq")
    client.select("seqs")
    first = client.insert(b"a")
    assert client.insert(b"b") > first
    assert client.get(first) == b"a"


def test_namespace_admin(client, zdb_engine):
    client.nsnew("ns1")
    client.nsnew("ns2")
    assert client.nslist() == ["default", "ns1", "ns2"]
    client.nsset("ns1", "maxsize", 1000)
    client.nsset("ns1", "password", "pw")
    client.nsset("ns1", "public", False)
    client.nsset("ns1", "worm", True)
    info = client.nsinfo("ns1")
    assert isinstance(info, NamespaceInfo)
    assert info.name == "ns1"
    assert (info.public, info.worm, info.password, info.locked) == (False, True, True, False)
    assert info.data_limits_bytes == 1000
    assert info.space_available == 1000
    assert info.entries == 0
    assert info.mode == "user"
    assert info.fields["mode"] == "userkey"
    assert isinstance(info.fields["data_size_mb"], float)
    if zdb_engine == "embedded":
        assert info.data_path is not None  # every client is admin on this server
    else:
        assert info.data_path is None  # the Tarantool engine has no folders to show
    client.nsset("ns1", "password", "*")
    assert client.nsinfo("ns1").password is False
    client.nsdel("ns2")
    assert client.nslist() == ["default", "ns1"]
    assert client.nsinfo().name == "default"
    with pytest.raises(NamespaceNotFound, match=r"^This namespace doesn't exists$"):
        client.nsdel("ns2")
    with pytest.raises(NamespaceNotFound, match=r"^Namespace not found$"):
        client.nsinfo("ns2")


def test_select_moves_the_client(client):
    client.nsnew("other")
    client.set("k", "default value")
    client.select("other")
    assert client.namespace == "other"
    assert client.get("k") is None
    client.set("k", "other value")
    assert client.dbsize() == 1
    client.select("default")
    assert client.get("k") == b"default value"


def test_failed_select_keeps_the_namespace(client):
    client.nsnew("here")
    client.select("here")
    client.set("k", "v")
    with pytest.raises(NamespaceNotFound):
        client.select("nowhere")
    assert client.namespace == "here"
    assert client.get("k") == b"v"


def test_flush(client):
    client.nsnew("private")
    client.nsset("private", "password", "pw")
    client.nsset("private", "public", False)
    client.select("private", "pw")
    client.set("a", "1")
    client.set("b", "2")
    client.flush()
    assert client.dbsize() == 0
    client.select("default")
    with pytest.raises(PermissionDenied, match="Flushing public namespace denied"):
        client.flush()


def test_server_errors_are_chained_and_keep_the_line(client):
    with pytest.raises(ZdbResponseError) as info:
        client.nsset("default", "nope", "1")
    assert type(info.value) is ZdbResponseError
    assert str(info.value) == "Cannot update default namespace"
    assert isinstance(info.value.__cause__, redis.exceptions.ResponseError)


def test_namespace_passwords(client, zdb, connect):
    make_namespace(client, "private", "pw", public=False)
    make_namespace(client, "public", "pw", public=True)
    with (
        connect(port=zdb.port, namespace="private", password="wrong") as c,
        pytest.raises(PermissionDenied, match=r"^Access denied$"),
    ):
        c.ping()
    with (
        connect(port=zdb.port, namespace="private") as c,
        pytest.raises(PermissionDenied, match=r"^Namespace protected and private$"),
    ):
        c.ping()
    with connect(port=zdb.port, namespace="private", password="pw") as c:
        c.set("k", "v")
    with connect(port=zdb.port, namespace="public") as c:  # read-only without the password
        assert c.get("nothing") is None
        with pytest.raises(ReadOnly, match=r"^Namespace is in read-only mode$"):
            c.set("k", "v")
    with connect(port=zdb.port, namespace="missing") as c, pytest.raises(NamespaceNotFound):
        c.ping()


def test_admin_commands_need_the_admin_password(admin_zdb, connect):
    with connect(port=admin_zdb.port) as c:
        c.set("anyone", "may write")
        with pytest.raises(PermissionDenied, match=r"^Permission denied$"):
            c.nsnew("ns")
    with (
        connect(port=admin_zdb.port, admin_password="wrong") as c,
        pytest.raises(PermissionDenied, match=r"^Access denied$"),
    ):
        c.ping()
    with connect(port=admin_zdb.port, admin_password=ADMIN) as c:
        c.nsnew("ns")
        assert "ns" in c.nslist()


def test_no_space_left(client):
    make_namespace(client, "small", maxsize=10)
    client.select("small")
    client.set("a", b"12345")
    with pytest.raises(NoSpaceLeft, match=r"^No space left on this namespace$"):
        client.set("b", b"123456")
    client.set("a", b"1234567890")  # an overwrite may reuse the space it replaces


def test_lock_and_freeze(client):
    client.nsnew("ns")
    client.select("ns")
    client.set("k", "v")
    client.nsset("ns", "lock", True)
    assert client.nsinfo().locked is True
    assert client.get("k") == b"v"
    with pytest.raises(ReadOnly, match=r"^Namespace is temporarily locked \(read-only\)$"):
        client.set("k", "new")
    with pytest.raises(ReadOnly, match="locked"):
        client.delete("k")
    client.nsset("ns", "freeze", True)
    with pytest.raises(ReadOnly, match="frozen"):
        client.get("k")
    with pytest.raises(ReadOnly, match="frozen"):
        list(client.scan_iter())
    client.nsset("ns", "freeze", False)
    client.set("k", "new")


def test_worm(client):
    make_namespace(client, "worm", worm=True)
    client.select("worm")
    client.set("k", "v")
    client.set("k2", "v2")  # new keys are fine
    with pytest.raises(ReadOnly, match=r"^Namespace is protected by worm mode$"):
        client.set("k", "changed")
    with pytest.raises(ReadOnly, match=r"^Cannot delete a key when namespace is in worm mode$"):
        client.delete("k")
    assert client.get("k") == b"v"


def test_secure_auth_never_sends_passwords(admin_zdb, monkeypatch, connect):
    with connect(port=admin_zdb.port, admin_password=ADMIN) as admin:
        make_namespace(admin, "vault", "pw", public=False)
    sent: list[tuple[bytes, ...]] = []
    connection = connect(port=admin_zdb.port).connection_class  # the client kind's
    original = connection.send_command

    def record(self, *args, **kwargs):
        sent.append(tuple(a if isinstance(a, bytes) else str(a).encode() for a in args))
        return original(self, *args, **kwargs)  # the async one's coroutine, awaited by its caller

    monkeypatch.setattr(connection, "send_command", record)
    with connect(port=admin_zdb.port, admin_password=ADMIN, secure=True) as admin:
        admin.nsnew("made-by-a-secure-admin")
    with connect(
        port=admin_zdb.port, admin_password=ADMIN, namespace="vault", password="pw", secure=True
    ) as c:
        c.set("k", "v")
        c.nsinfo("vault")  # admin rights came through the secure AUTH
        c.close()
        assert c.get("k") == b"v"  # and again on a new connection
    with (
        connect(port=admin_zdb.port, namespace="vault", password="wrong", secure=True) as c,
        pytest.raises(PermissionDenied, match=r"^Access denied$"),
    ):
        c.ping()
    with (
        connect(port=admin_zdb.port, admin_password="wrong", secure=True) as c,
        pytest.raises(PermissionDenied, match=r"^Access denied$"),
    ):
        c.ping()
    words = {arg for command in sent for arg in command}
    assert b"SECURE" in words
    assert not words & {ADMIN.encode(), b"pw", b"wrong"}
    assert not {command[0] for command in sent} & {b"HELLO", b"CLIENT"}


def test_restart_reapplies_namespace_and_auth(admin_zdb, connect):
    with connect(port=admin_zdb.port, admin_password=ADMIN) as admin:
        make_namespace(admin, "app", "pw", public=False)
    c = connect(port=admin_zdb.port, namespace="app", password="pw", admin_password=ADMIN)
    with c:
        c.set("k", "v")
        c.outside(admin_zdb.restart)  # same port
        assert c.get("k") == b"v"  # the reconnect entered "app" again
        assert c.dbsize() == 1
        c.nsnew("after-restart")  # and proved the admin password again
        c.outside(admin_zdb.kill)
        with pytest.raises(ZdbConnectionError, match=r"is it running\?$"):
            c.get("k")
        c.outside(admin_zdb.start)
        assert c.get("k") == b"v"
        assert c.namespace == "app"


def test_secure_reconnect(admin_zdb, connect):
    with connect(port=admin_zdb.port, admin_password=ADMIN) as admin:
        make_namespace(admin, "app", "pw", public=False)
    with connect(
        port=admin_zdb.port, namespace="app", password="pw", admin_password=ADMIN, secure=True
    ) as c:
        c.set("k", "v")
        c.outside(admin_zdb.restart)
        assert c.get("k") == b"v"
        c.nsnew("ok")


def test_deleted_namespace_is_never_replaced_by_default(client, zdb, connect):
    client.nsnew("gone")
    client.set("k", "in default")
    with connect(port=zdb.port, namespace="gone") as c:
        c.set("k", "in gone")
        client.nsdel("gone")
        with pytest.raises(NamespaceNotFound, match="not available anymore"):
            c.get("k")
        with pytest.raises(NamespaceNotFound, match=r"^Namespace not found$"):
            c.get("k")  # a new connection cannot enter it either
        c.select("default")
        assert c.get("k") == b"in default"


def test_nothing_listening_fails_fast(connect):
    port = free_port()
    started = time.monotonic()
    with connect(port=port, timeout=2) as c, pytest.raises(ZdbConnectionError) as info:
        c.ping()
    assert time.monotonic() - started < 1
    assert not isinstance(info.value, ZdbTimeoutError)
    message = str(info.value)
    assert message.startswith(f"cannot reach zero-db at 127.0.0.1:{port}: ")
    assert message.endswith("; is it running?")
    assert isinstance(info.value.__cause__, redis.exceptions.ConnectionError)


def test_silent_server_times_out(silent_port, connect):
    started = time.monotonic()
    with (
        connect(port=silent_port, timeout=0.5) as c,
        pytest.raises(ZdbTimeoutError, match=r"did not answer within 0.5s"),
    ):
        c.ping()
    assert 0.4 < time.monotonic() - started < 3
    started = time.monotonic()
    with connect(port=silent_port, timeout=0.5) as c, pytest.raises(ZdbTimeoutError):
        c.wait("SET", 100)  # waits 0.1s plus the timeout, no longer
    assert 0.5 < time.monotonic() - started < 3


def test_unix_socket(zdb_factory, connect):
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        path = str(Path(folder) / "zdb.sock")
        zdb_factory("--socket", path)
        with connect(unix_socket=path) as c:
            assert c.ping()
            c.nsnew("u")
            c.select("u")
            c.set("k", "v")
            c.close()
            assert c.get("k") == b"v"
            assert "unix:" in repr(c)
        with (
            connect(unix_socket=path + ".missing") as c,
            pytest.raises(ZdbConnectionError, match=f"at unix:{path}.missing: "),
        ):
            c.ping()


def test_from_url(client, zdb, connect):
    make_namespace(client, "urlns", "p@ss:word", public=False)
    with connect.from_url(f"zdb://:p%40ss%3Aword@127.0.0.1:{zdb.port}/urlns") as c:
        assert c.namespace == "urlns"
        assert repr(c) == f"{type(c.client).__name__}(127.0.0.1:{zdb.port}, namespace='urlns')"
        c.set("k", "v")
        assert c.dbsize() == 1
    assert parse_url("zdb://example.org") == {"host": "example.org", "port": 9900}
    assert parse_url("zdb://h:1/ns") == {"host": "h", "port": 1, "namespace": "ns"}
    with pytest.raises(ValueError, match="not a zero-db URL"):
        parse_url("redis://h:1")
    with pytest.raises(ValueError, match="needs a namespace"):
        parse_url("zdb://:pw@h:1")
    with pytest.raises(ValueError, match="no user names"):
        parse_url("zdb://user:pw@h:1/ns")


def test_wait_times_out_as_none_after_the_clients_own_timeout(zdb, connect):
    """WAIT's reply comes after timeout_ms: the client reads that long, plus its own timeout."""
    with connect(port=zdb.port, timeout=0.5) as c:
        started = time.monotonic()
        assert c.wait("SET", 200) is None
        assert c.wait("SET", 1000) is None  # twice the client's timeout: still the server's None
        assert 1.2 < time.monotonic() - started < 5
        with pytest.raises(ZdbResponseError, match="Unknown command to watch"):
            c.wait("NOPE", 200)
