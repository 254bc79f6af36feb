"""The sync zero-db client against real servers: every method, errors, reconnects, timeouts."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis.exceptions

from zeroos.testing import free_port
from zeroos.zdb import (
    ChecksumError,
    Client,
    HistoryEntry,
    KeyNotFound,
    NamespaceInfo,
    NamespaceNotFound,
    NoMoreData,
    NoSpaceLeft,
    PermissionDenied,
    ReadOnly,
    ScanEntry,
    ZdbConnectionError,
    ZdbError,
    ZdbResponseError,
    ZdbTimeoutError,
)
from zeroos.zdb.client.sync import (
    Login,
    ZdbConnection,
    encode_key,
    parse_fields,
    parse_url,
    secure_proof,
    select_steps,
)
from zeroos.zdb.errors import error_from_reply

pytestmark = pytest.mark.both_engines

ADMIN = "secret"


# -- helpers --------------------------------------------------------------------------------
@pytest.fixture
def client(zdb) -> Iterator[Client]:
    """A client of a fresh server without admin password, in the default namespace."""
    with Client(port=zdb.port) as c:
        yield c


@pytest.fixture
def admin_zdb(zdb_factory):
    """A server with the admin password ADMIN."""
    return zdb_factory("--admin", ADMIN)


def make_namespace(admin: Client, name: str, password: str | None = None, **props) -> None:
    admin.nsnew(name)
    if password is not None:
        admin.nsset(name, "password", password)
    for prop, value in props.items():
        admin.nsset(name, prop, value)


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


# -- server commands ------------------------------------------------------------------------
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


# -- keys -----------------------------------------------------------------------------------
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


def test_key_encoding():
    assert encode_key(1) == b"\x01" + bytes(7)
    assert encode_key("é") == "é".encode()
    with pytest.raises(ValueError, match="does not fit"):
        encode_key(-1)
    with pytest.raises(TypeError):
        encode_key(True)
    with pytest.raises(TypeError):
        encode_key(1.5)  # type: ignore[arg-type]


# -- walking --------------------------------------------------------------------------------
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


# -- sequential mode ------------------------------------------------------------------------
def test_seq_mode_insert_get_update(zdb_factory):
    server = zdb_factory("--mode", "seq")
    with Client(port=server.port) as c:
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


# -- namespaces -----------------------------------------------------------------------------
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


def test_select_steps():
    """A fresh connection is already in default; a used one is always told where to go."""
    assert list(select_steps(Login("default"), secure=False, fresh=True)) == []
    assert list(select_steps(Login("default"), secure=False)) == [(b"SELECT", b"default")]
    assert list(select_steps(Login("ns", "pw"), secure=False, fresh=True)) == [
        (b"SELECT", b"ns", b"pw")
    ]
    steps = select_steps(Login("ns", "pw"), secure=True)
    assert next(steps) == (b"AUTH", b"SECURE", b"CHALLENGE")
    assert steps.send(b"708f109fbef4d656") == (
        b"SELECT",
        b"ns",
        b"SECURE",
        secure_proof("708f109fbef4d656", "pw"),
    )


def test_failed_select_keeps_the_namespace(client):
    client.nsnew("here")
    client.select("here")
    client.set("k", "v")
    with pytest.raises(NamespaceNotFound):
        client.select("nowhere")
    assert client.namespace == "here"
    assert client.get("k") == b"v"


def test_select_moves_every_pooled_connection(client, zdb):
    """WAIT only fires for a command of another connection in the same namespace."""
    client.nsnew("shared")

    def wait_and_poke() -> str | None:
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(client.wait, "SET", 5000)
            deadline = time.monotonic() + 5
            i = 0
            while not waiting.done() and time.monotonic() < deadline:
                client.set("poke", str(i))  # on another pooled connection
                i += 1
                time.sleep(0.02)
            return waiting.result()

    assert wait_and_poke() == "SET"  # the pool now holds two connections, both in default
    client.select("shared")
    assert wait_and_poke() == "SET"
    with Client(port=zdb.port, namespace="shared") as check:
        assert check.get("poke") is not None


def test_threads_share_the_pool(client):
    def work(n: int) -> bytes | None:
        client.set(f"t{n}", str(n))
        return client.get(f"t{n}")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(200)))
    assert results == [str(n).encode() for n in range(200)]


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


def test_wait_returns_the_command_or_none_on_timeout(client, zdb):
    started = time.monotonic()
    assert client.wait("SET", 200) is None
    assert time.monotonic() - started < 3
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(client.wait, "*", 5000)
        with Client(port=zdb.port) as other:
            while not waiting.done():
                other.ping()
                time.sleep(0.02)
        assert waiting.result() == "PING"
    with pytest.raises(ZdbResponseError, match="Unknown command to watch"):
        client.wait("NOPE", 200)


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("Namespace not found", NamespaceNotFound),
        ("This namespace doesn't exists", NamespaceNotFound),
        ("Your active namespace is not available anymore (probably removed).", NamespaceNotFound),
        ("Permission denied", PermissionDenied),
        ("Access denied", PermissionDenied),
        ("Namespace protected and private", PermissionDenied),
        ("No space left on this namespace", NoSpaceLeft),
        ("Namespace is temporarily locked (read-only)", ReadOnly),
        ("Namespace is temporarily frozen (read-write disabled)", ReadOnly),
        ("Namespace is in read-only mode", ReadOnly),
        ("Namespace is protected by worm mode", ReadOnly),
        ("Cannot delete a key when namespace is in worm mode", ReadOnly),
        ("Key not found", KeyNotFound),
        ("No keys match", KeyNotFound),
        ("No more data", NoMoreData),
        ("Internal Error: entry of key b'k' in namespace 'x' is corrupt", ChecksumError),
        ("Invalid property", ZdbResponseError),
        ("Internal Error", ZdbResponseError),
    ],
)
def test_error_lines_map_to_typed_exceptions(line, kind):
    exc = error_from_reply(line)
    assert type(exc) is kind
    assert str(exc) == line
    assert isinstance(exc, ZdbError)


def test_server_errors_are_chained_and_keep_the_line(client):
    with pytest.raises(ZdbResponseError) as info:
        client.nsset("default", "nope", "1")
    assert type(info.value) is ZdbResponseError
    assert str(info.value) == "Cannot update default namespace"
    assert isinstance(info.value.__cause__, redis.exceptions.ResponseError)


def test_namespace_passwords(client, zdb):
    make_namespace(client, "private", "pw", public=False)
    make_namespace(client, "public", "pw", public=True)
    with (
        Client(port=zdb.port, namespace="private", password="wrong") as c,
        pytest.raises(PermissionDenied, match=r"^Access denied$"),
    ):
        c.ping()
    with (
        Client(port=zdb.port, namespace="private") as c,
        pytest.raises(PermissionDenied, match=r"^Namespace protected and private$"),
    ):
        c.ping()
    with Client(port=zdb.port, namespace="private", password="pw") as c:
        c.set("k", "v")
    with Client(port=zdb.port, namespace="public") as c:  # read-only without the password
        assert c.get("nothing") is None
        with pytest.raises(ReadOnly, match=r"^Namespace is in read-only mode$"):
            c.set("k", "v")
    with Client(port=zdb.port, namespace="missing") as c, pytest.raises(NamespaceNotFound):
        c.ping()


def test_admin_commands_need_the_admin_password(admin_zdb):
    with Client(port=admin_zdb.port) as c:
        c.set("anyone", "may write")
        with pytest.raises(PermissionDenied, match=r"^Permission denied$"):
            c.nsnew("ns")
    with (
        Client(port=admin_zdb.port, admin_password="wrong") as c,
        pytest.raises(PermissionDenied, match=r"^Access denied$"),
    ):
        c.ping()
    with Client(port=admin_zdb.port, admin_password=ADMIN) as c:
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


# -- secure authentication ------------------------------------------------------------------
def test_secure_proof_is_0db_scheme():
    # sha1("708f109fbef4d656:secret"), lowercase hex
    import hashlib

    expected = hashlib.sha1(b"708f109fbef4d656:secret").hexdigest().encode()
    assert secure_proof("708f109fbef4d656", "secret") == expected
    assert len(expected) == 40


def test_secure_auth_never_sends_passwords(admin_zdb, monkeypatch):
    with Client(port=admin_zdb.port, admin_password=ADMIN) as admin:
        make_namespace(admin, "vault", "pw", public=False)
    sent: list[tuple[bytes, ...]] = []
    original = ZdbConnection.send_command

    def record(self, *args, **kwargs):
        sent.append(tuple(a if isinstance(a, bytes) else str(a).encode() for a in args))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ZdbConnection, "send_command", record)
    with Client(port=admin_zdb.port, admin_password=ADMIN, secure=True) as admin:
        admin.nsnew("made-by-a-secure-admin")
    with Client(
        port=admin_zdb.port, admin_password=ADMIN, namespace="vault", password="pw", secure=True
    ) as c:
        c.set("k", "v")
        c.nsinfo("vault")  # admin rights came through the secure AUTH
        c.close()
        assert c.get("k") == b"v"  # and again on a new connection
    with (
        Client(port=admin_zdb.port, namespace="vault", password="wrong", secure=True) as c,
        pytest.raises(PermissionDenied, match=r"^Access denied$"),
    ):
        c.ping()
    with (
        Client(port=admin_zdb.port, admin_password="wrong", secure=True) as c,
        pytest.raises(PermissionDenied, match=r"^Access denied$"),
    ):
        c.ping()
    words = {arg for command in sent for arg in command}
    assert b"SECURE" in words
    assert not words & {ADMIN.encode(), b"pw", b"wrong"}
    assert not {command[0] for command in sent} & {b"HELLO", b"CLIENT"}


# -- reconnects -----------------------------------------------------------------------------
def test_restart_reapplies_namespace_and_auth(admin_zdb):
    with Client(port=admin_zdb.port, admin_password=ADMIN) as admin:
        make_namespace(admin, "app", "pw", public=False)
    c = Client(port=admin_zdb.port, namespace="app", password="pw", admin_password=ADMIN)
    with c:
        c.set("k", "v")
        admin_zdb.restart()  # same port
        assert c.get("k") == b"v"  # the reconnect entered "app" again
        assert c.dbsize() == 1
        c.nsnew("after-restart")  # and proved the admin password again
        admin_zdb.kill()
        with pytest.raises(ZdbConnectionError, match=r"is it running\?$"):
            c.get("k")
        admin_zdb.start()
        assert c.get("k") == b"v"
        assert c.namespace == "app"


def test_secure_reconnect(admin_zdb):
    with Client(port=admin_zdb.port, admin_password=ADMIN) as admin:
        make_namespace(admin, "app", "pw", public=False)
    with Client(
        port=admin_zdb.port, namespace="app", password="pw", admin_password=ADMIN, secure=True
    ) as c:
        c.set("k", "v")
        admin_zdb.restart()
        assert c.get("k") == b"v"
        c.nsnew("ok")


def test_deleted_namespace_is_never_replaced_by_default(client, zdb):
    client.nsnew("gone")
    client.set("k", "in default")
    with Client(port=zdb.port, namespace="gone") as c:
        c.set("k", "in gone")
        client.nsdel("gone")
        with pytest.raises(NamespaceNotFound, match="not available anymore"):
            c.get("k")
        with pytest.raises(NamespaceNotFound, match=r"^Namespace not found$"):
            c.get("k")  # a new connection cannot enter it either
        c.select("default")
        assert c.get("k") == b"in default"


# -- connections and timeouts ---------------------------------------------------------------
def test_nothing_listening_fails_fast():
    port = free_port()
    started = time.monotonic()
    with Client(port=port, timeout=2) as c, pytest.raises(ZdbConnectionError) as info:
        c.ping()
    assert time.monotonic() - started < 1
    assert not isinstance(info.value, ZdbTimeoutError)
    message = str(info.value)
    assert message.startswith(f"cannot reach zero-db at 127.0.0.1:{port}: ")
    assert message.endswith("; is it running?")
    assert isinstance(info.value.__cause__, redis.exceptions.ConnectionError)


def test_silent_server_times_out(silent_port):
    started = time.monotonic()
    with (
        Client(port=silent_port, timeout=0.5) as c,
        pytest.raises(ZdbTimeoutError, match=r"did not answer within 0.5s"),
    ):
        c.ping()
    assert 0.4 < time.monotonic() - started < 3


def test_timeout_must_be_positive():
    with pytest.raises(ValueError, match="timeout"):
        Client(timeout=0)
    with pytest.raises(ValueError, match="max_connections"):
        Client(max_connections=0)


def test_busy_pool_makes_callers_wait_then_time_out(zdb):
    with Client(port=zdb.port, max_connections=1, timeout=2) as c, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(c.wait, "SET", 5000)  # holds the only connection, once it runs
        deadline = time.monotonic() + 4
        refused = ""
        while not refused:  # pings get through until the WAIT took the connection
            assert time.monotonic() < deadline, "the WAIT never took the connection"
            try:
                c.ping()
            except ZdbTimeoutError as exc:
                refused = str(exc)
        assert "no free connection" in refused
        assert waiting.result() is None
        assert c.ping()  # the connection is back


def test_unix_socket(zdb_factory):
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        path = str(Path(folder) / "zdb.sock")
        zdb_factory("--socket", path)
        with Client(unix_socket=path) as c:
            assert c.ping()
            c.nsnew("u")
            c.select("u")
            c.set("k", "v")
            c.close()
            assert c.get("k") == b"v"
            assert "unix:" in repr(c)
        with (
            Client(unix_socket=path + ".missing") as c,
            pytest.raises(ZdbConnectionError, match=f"at unix:{path}.missing: "),
        ):
            c.ping()


# -- construction ---------------------------------------------------------------------------
def test_from_url(client, zdb):
    make_namespace(client, "urlns", "p@ss:word", public=False)
    with Client.from_url(f"zdb://:p%40ss%3Aword@127.0.0.1:{zdb.port}/urlns") as c:
        assert c.namespace == "urlns"
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


def test_repr_hides_passwords():
    c = Client(port=1234, namespace="ns", password="hunter2", admin_password="root-pw")
    assert repr(c) == "Client(127.0.0.1:1234, namespace='ns')"
    assert "hunter2" not in repr(c)
    with pytest.raises(ValueError, match="give the namespace"):
        Client(password="pw")


def test_parse_fields():
    text = "# section\nname: x\ncount: 3\nratio: 0.50\nflag: yes\noff: no\nid: 0x0100\n\n"
    assert parse_fields(text) == {
        "name": "x",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "off": False,
        "id": "0x0100",
    }
    with pytest.raises(ZdbError, match="lacks the field 'mode'"):
        NamespaceInfo.parse("name: x\n")
