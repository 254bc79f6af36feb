"""zero-db's data commands against a real server, with exact 0-db replies.

Every reply is checked three ways where it matters: the exact bytes on the wire (``Raw``),
what redis-py makes of them (response callbacks removed, see ``plain``) and what the real
``redis-cli`` prints (``--no-raw``, so that types show: ``(error)``, ``(nil)``, ``(integer)``).

The helpers at the top are shared by the other ``test_*`` files of zero-db's command set.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import hiredis
import pytest
import redis

pytestmark = pytest.mark.both_engines

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"

# -- shared helpers ---------------------------------------------------------------------------


def encode(*args: bytes | str | int) -> bytes:
    """A RESP array of bulk strings, as every client sends."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


def _reply_end(buf: bytes, pos: int) -> int | None:
    """Where the RESP reply starting at pos ends, or None when it is incomplete."""
    nl = buf.find(b"\r\n", pos)
    if nl < 0:
        return None
    kind, head, nxt = buf[pos : pos + 1], buf[pos + 1 : nl], nl + 2
    if kind in (b"+", b"-", b":"):
        return nxt
    if kind == b"$":
        size = int(head)
        if size < 0:
            return nxt
        end = nxt + size + 2
        return end if len(buf) >= end else None
    if kind in (b"*", b"%"):
        count = int(head) * (2 if kind == b"%" else 1)
        for _ in range(max(count, 0)):
            end = _reply_end(buf, nxt)
            if end is None:
                return None
            nxt = end
        return nxt
    raise AssertionError(f"not a RESP reply: {buf[pos:]!r}")


def parse(data: bytes) -> object:
    """Decode one encoded reply (error lines become hiredis.ReplyError values)."""
    reader = hiredis.Reader()
    reader.feed(data)
    value = reader.gets()
    assert value is not False, data
    return value


class Raw:
    """One connection that sends RESP arrays and returns the exact bytes of each reply."""

    def __init__(self, port: int | None = None, *, unix: str | None = None, timeout: float = 10):
        if unix is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(unix)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(timeout)
        self.buf = b""
        self.namespace = "default"
        self.last: tuple[bytes | str | int, ...] = ()

    def send(self, *args: bytes | str | int) -> None:
        self.last = args
        self.sock.sendall(encode(*args))

    def read(self) -> bytes:
        while True:
            end = _reply_end(self.buf, 0) if self.buf else None
            if end is not None:
                reply, self.buf = self.buf[:end], self.buf[end:]
                return reply
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError(
                    f"server closed the connection after {self.last!r}; unread: {self.buf!r}"
                )
            self.buf += chunk

    def call(self, *args: bytes | str | int) -> bytes:
        self.send(*args)
        return self.read()

    def value(self, *args: bytes | str | int) -> object:
        """The decoded reply."""
        return parse(self.call(*args))

    def ok(self, *args: bytes | str | int) -> None:
        reply = self.call(*args)
        assert reply == b"+OK\r\n", (args, reply)

    def closed_by_server(self) -> bool:
        """True when the server closed its side (reads EOF) with nothing left unread."""
        try:
            return self.sock.recv(1) == b"" and not self.buf
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def err(line: str) -> bytes:
    return b"-" + line.encode() + b"\r\n"


def bulk(data: bytes | str) -> bytes:
    data = data if isinstance(data, bytes) else data.encode()
    return b"$%d\r\n%b\r\n" % (len(data), data)


NIL = b"$-1\r\n"
OK = b"+OK\r\n"


def plain(server: object, **kwargs: object) -> redis.Redis:
    """A redis-py client without response callbacks: replies come back as sent."""
    client = server.client(**kwargs)  # type: ignore[attr-defined]
    client.response_callbacks.clear()
    return client


def cli(server: object, *args: str, stdin: str | None = None, unix: str | None = None) -> str:
    """What redis-cli prints (types shown), for one command or a script fed on stdin."""
    where = ["-s", unix] if unix else ["-p", str(server.port)]  # type: ignore[attr-defined]
    out = subprocess.run(
        [REDIS_CLI, *where, "--no-raw", *args],
        input=stdin.encode() if stdin is not None else None,
        capture_output=True,
        timeout=30,
        check=True,
    )
    return out.stdout.decode().strip()


_names = itertools.count()


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}-{next(_names)}"


def new_namespace(server: object, *settings: tuple[str, str], admin: str | None = None) -> str:
    """Create a namespace with a unique name and apply NSSET settings; return its name."""
    name = unique()
    with Raw(server.port) as conn:  # type: ignore[attr-defined]
        if admin is not None:
            conn.ok("AUTH", admin)
        conn.ok("NSNEW", name)
        for prop, value in settings:
            conn.ok("NSSET", name, prop, value)
    return name


def attach(server: object, namespace: str, *select_args: str) -> Raw:
    """A raw connection with the namespace selected."""
    conn = Raw(server.port)  # type: ignore[attr-defined]
    conn.ok("SELECT", namespace, *select_args)
    conn.namespace = namespace
    return conn


def nsinfo(conn: Raw, namespace: str) -> dict[str, str]:
    text = conn.value("NSINFO", namespace)
    assert isinstance(text, bytes), text
    pairs = [line.split(": ", 1) for line in text.decode().splitlines() if ": " in line]
    return dict(pairs)  # type: ignore[arg-type]


@pytest.fixture
def ns(zdb_shared: object) -> Iterator[Raw]:
    """A raw connection on a fresh namespace of the shared server."""
    conn = attach(zdb_shared, new_namespace(zdb_shared))
    yield conn
    conn.close()


# -- PING, TIME, INFO, DBSIZE, HELLO, unknown commands ----------------------------------------


def test_ping_on_the_wire_redis_py_and_redis_cli(zdb_shared):
    with Raw(zdb_shared.port) as conn:
        assert conn.call("PING") == b"+PONG\r\n"
        assert conn.call("PING", "ignored", "args") == b"+PONG\r\n"
        assert conn.call("ping") == b"+PONG\r\n"  # command names are case-insensitive
    assert zdb_shared.client().ping() is True
    assert cli(zdb_shared, "PING") == "PONG"


def test_time_is_two_decimal_bulks(zdb_shared):
    before = time.time()
    with Raw(zdb_shared.port) as conn:
        reply = conn.call("TIME")
    after = time.time()
    match = re.fullmatch(rb"\*2\r\n\$\d+\r\n(\d+)\r\n\$\d+\r\n(\d+)\r\n", reply)
    assert match, reply
    seconds, micros = int(match[1]), int(match[2])
    assert int(before) <= seconds <= after + 1
    assert 0 <= micros < 1_000_000
    assert abs(seconds + micros / 1e6 - (before + after) / 2) < 2
    lines = cli(zdb_shared, "TIME").splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r'1\) "\d+"', lines[0])
    assert lines[1].startswith("2) ")


INFO_ORDER = [
    "server_name",
    "server_revision",
    "engine_revision",
    "instance_id",
    "boot_time",
    "uptime",
    "clients_lifetime",
    "sequential_key_size",
    "commands_executed",
    "commands_failed",
    "commands_unauthorized",
    "network_rx_bytes",
    "network_rx_mb",
    "network_tx_bytes",
    "network_tx_mb",
]


def _info(conn: Raw) -> tuple[str, dict[str, str]]:
    text = conn.value("INFO", "ignored")
    assert isinstance(text, bytes)
    body = text.decode()
    return body, dict(line.split(": ", 1) for line in body.splitlines() if ": " in line)


def test_info_sections_fields_and_counters(zdb):
    with Raw(zdb.port) as conn:
        body, fields = _info(conn)
        assert body.startswith("# server\nserver_name: 0-db (zdb)\n")
        assert body.endswith("\n")
        assert "\n\n# clients\n" in body
        assert "\n\n# stats\n" in body
        keys = [line.split(": ", 1)[0] for line in body.splitlines() if ": " in line]
        assert [k for k in keys if k in INFO_ORDER] == INFO_ORDER  # 0-db's order
        assert fields["sequential_key_size"] == "8"
        assert abs(int(fields["boot_time"]) - time.time()) < 60
        assert fields["network_rx_mb"] == f"{int(fields['network_rx_bytes']) / 1048576:.2f}"
        lifetime = int(fields["clients_lifetime"])
        executed = int(fields["commands_executed"])
        failed = int(fields["commands_failed"])
        rx = int(fields["network_rx_bytes"])
        assert conn.call("NOSUCHCOMMAND") == err("Command not supported")
        _body, after = _info(conn)
        assert int(after["commands_failed"]) == failed + 1
        assert int(after["commands_executed"]) == executed + 2
        assert int(after["network_rx_bytes"]) > rx
    with Raw(zdb.port):
        pass
    with Raw(zdb.port) as other:
        _body, later = _info(other)
    assert int(later["clients_lifetime"]) == lifetime + 2
    assert cli(zdb, "INFO").startswith("# server\nserver_name: 0-db (zdb)\n")  # shown as text


def test_dbsize_counts_live_keys(ns):
    assert ns.call("DBSIZE") == b":0\r\n"
    for key in ("a", "b", "c"):
        ns.call("SET", key, "v")
    ns.call("SET", "a", "changed")  # an overwrite is still one key
    assert ns.call("DBSIZE") == b":3\r\n"
    ns.ok("DEL", "b")
    assert ns.call("DBSIZE", "extra") == b":2\r\n"  # arguments are not checked


@pytest.mark.parametrize("proto", [2, 3])
def test_hello_replies_in_the_asked_protocol(zdb_shared, proto):
    with Raw(zdb_shared.port) as conn:
        reply = conn.call("HELLO", proto)
        assert reply.startswith(b"%7\r\n" if proto == 3 else b"*14\r\n")
        fields = parse(reply)
        if proto == 2:
            assert isinstance(fields, list)
            fields = dict(zip(fields[::2], fields[1::2], strict=True))
        assert fields[b"proto"] == proto
        assert fields[b"server"] == b"0-db (zdb)"
        assert conn.call("PING") == b"+PONG\r\n"  # other replies do not change


def test_hello_errors(zdb_shared):
    with Raw(zdb_shared.port) as conn:
        assert conn.call("HELLO", "4") == err("NOPROTO unsupported protocol version")
        assert conn.call("HELLO", "x") == err("Protocol version is not an integer or out of range")
        assert conn.call("HELLO", "3", "BOGUS") == err("Syntax error in HELLO option")
        assert conn.call("HELLO", "2", "SETNAME", "me")[:4] == b"*14\r"


@pytest.mark.parametrize("protocol", [None, 2, 3])
def test_redis_py_clients_work_in_both_protocols(zdb_shared, protocol):
    kwargs = {} if protocol is None else {"protocol": protocol}
    client = zdb_shared.client(**kwargs)  # redis-py 8's default client says HELLO 3 first
    assert client.ping() is True
    key = unique()
    client.response_callbacks.pop("SET", None)
    assert client.execute_command("SET", key, b"\x00bin\r\n") == key.encode()
    assert client.get(key) == b"\x00bin\r\n"
    assert client.exists(key) == 1
    conn = client.connection_pool.get_connection()
    try:
        # RESP3 clients (the default) shook hands with HELLO 3; RESP2 ones sent no HELLO
        handshake = getattr(conn, "handshake_metadata", None)
        if protocol == 2:
            assert not handshake
        else:
            assert handshake[b"proto"] == 3
            assert handshake[b"server"] == b"0-db (zdb)"
    finally:
        client.connection_pool.release(conn)
    assert cli(zdb_shared, "-3", "PING") == "PONG"
    assert cli(zdb_shared, "-3", "HELLO", "3").splitlines()[:2] == [
        '1# "server" => "0-db (zdb)"',
        '2# "version" => "' + handshake_version(zdb_shared) + '"',
    ]


def handshake_version(server: object) -> str:
    with Raw(server.port) as conn:  # type: ignore[attr-defined]
        fields = parse(conn.call("HELLO", "3"))
    assert isinstance(fields, dict)
    return fields[b"version"].decode()  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["NOSUCH", "FLUSHALL", "KEYS", "CLIENT"])
def test_unknown_command_is_not_supported(zdb_shared, name):
    with Raw(zdb_shared.port) as conn:
        assert conn.call(name, "x") == err("Command not supported")
        assert conn.call("PING") == b"+PONG\r\n"  # the connection stays usable
    with pytest.raises(redis.ResponseError, match=r"^Command not supported$"):
        plain(zdb_shared).execute_command(name, "x")
    assert cli(zdb_shared, name, "x") == "(error) Command not supported"


# -- SET, GET, MGET, DEL, EXISTS, CHECK, LENGTH, KEYTIME ---------------------------------------


def test_set_replies_the_key_and_get_returns_the_value(ns):
    assert ns.call("SET", "key", "value") == bulk("key")
    assert ns.call("GET", "key") == bulk("value")
    assert ns.call("SET", "key", "other") == bulk("key")
    assert ns.call("GET", "key") == bulk("other")
    binary = bytes(range(256)) + b"\r\n$-1\r\n"
    assert ns.call("SET", b"\x00\xff\r\n", binary) == bulk(b"\x00\xff\r\n")
    assert ns.call("GET", b"\x00\xff\r\n") == bulk(binary)
    assert ns.call("SET", "empty", "") == bulk("empty")
    assert ns.call("GET", "empty") == b"$0\r\n\r\n"


def test_set_get_with_redis_py_and_redis_cli(zdb_shared):
    name = new_namespace(zdb_shared)
    client = plain(zdb_shared)
    assert client.execute_command("SELECT", name) == b"OK"
    assert client.execute_command("SET", "k", "v1") == b"k"
    assert client.execute_command("SET", "k", "v1") is None  # identical value
    assert client.execute_command("GET", "k") == b"v1"
    assert client.execute_command("MGET", "k", "nope") == [b"v1", None]
    with pytest.raises(redis.ResponseError, match=r"^Key not found$"):
        client.execute_command("DEL", "nope")
    script = f'SELECT {name}\nGET k\nSET k "v 2"\nSET k "v 2"\nGET k\nEXISTS k\nDEL k\nGET k\n'
    assert cli(zdb_shared, stdin=script).splitlines() == [
        "OK",
        '"v1"',
        '"k"',
        "(nil)",
        '"v 2"',
        "(integer) 1",
        "OK",
        "(nil)",
    ]


def sizes(conn: Raw) -> dict[str, int]:
    """The size counters NSINFO reports for the connection's namespace."""
    info = nsinfo(conn, conn.namespace)
    keys = ("entries", "data_size_bytes", "index_size_bytes", "disk_size_bytes")
    return {k: int(info[k]) for k in keys}


def test_set_identical_value_writes_nothing(ns):
    assert ns.call("SET", "k", "same value") == bulk("k")
    before = sizes(ns)
    assert before["entries"] == 1
    assert before["data_size_bytes"] == len("same value")
    assert ns.call("SET", "k", "same value") == NIL
    assert sizes(ns) == before
    assert ns.call("SET", "k", "same valuf") == bulk("k")  # same size, other bytes: written
    after = sizes(ns)
    assert after["entries"] == 1
    assert after["data_size_bytes"] == before["data_size_bytes"]
    assert after["disk_size_bytes"] > before["disk_size_bytes"]
    assert after["index_size_bytes"] > before["index_size_bytes"]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("SET", "k" * 256, "v"), "Key too large"),
        (("SET", "", "v"), "Invalid argument, key needed"),
        (("SET", "k"), "Unexpected arguments"),
        (("SET", "k", "v", "1", "2"), "Unexpected arguments"),
        (("GET", "k" * 256), "Invalid key"),
        (("GET", ""), "Invalid argument"),
        (("GET",), "Unexpected arguments"),
        (("GET", "a", "b"), "Unexpected arguments"),
        (("MGET",), "Invalid arguments"),
        (("MGET", "a", "k" * 256), "Invalid key"),
        (("DEL", "k" * 256), "Invalid key"),
        (("DEL", ""), "Invalid argument"),
        (("DEL",), "Unexpected arguments"),
        (("EXISTS", ""), "Invalid argument"),
        (("EXISTS", "k" * 256), "Invalid key"),
        (("EXISTS",), "Unexpected arguments"),
        (("CHECK", ""), "Invalid argument"),
        (("CHECK", "a", "b"), "Unexpected arguments"),
        (("LENGTH", ""), "Invalid argument"),
        (("LENGTH", "k" * 256), "Invalid key"),
        (("KEYTIME", ""), "Invalid argument"),
        (("KEYTIME",), "Unexpected arguments"),
        (("KEYCUR", ""), "Invalid argument"),
        (("KEYCUR",), "Unexpected arguments"),
        (("KEYCUR", "k" * 256), "Key not found"),  # no length check, unlike GET
    ],
)
def test_argument_errors(ns, args, line):
    assert ns.call(*args) == err(line)
    assert ns.call("DBSIZE") == b":0\r\n"  # nothing was written


def test_longest_key_is_255_bytes(ns):
    key = "k" * 255
    assert ns.call("SET", key, "v") == bulk(key)
    for command in ("GET", "LENGTH", "EXISTS", "CHECK"):
        assert not ns.call(command, key).startswith(b"-")
    assert ns.call("MGET", key) == b"*1\r\n" + bulk("v")
    assert ns.call("DEL", key) == OK


def test_mget_mixes_values_and_nils(ns):
    ns.call("SET", "a", "1")
    ns.call("SET", "b", "")
    ns.call("SET", "c", "3")
    ns.ok("DEL", "c")
    reply = ns.call("MGET", "a", "missing", "b", "c", "a")
    assert reply == b"*5\r\n" + bulk("1") + NIL + b"$0\r\n\r\n" + NIL + bulk("1")


def test_del_status_reply_and_key_not_found(ns):
    ns.call("SET", "k", "v")
    assert ns.call("DEL", "k") == b"+OK\r\n"  # a status, not redis' integer
    assert ns.call("GET", "k") == NIL
    assert ns.call("EXISTS", "k") == b":0\r\n"
    assert ns.call("DEL", "k") == err("Key not found")
    assert ns.call("DEL", "never") == err("Key not found")
    assert ns.call("SET", "k", "again") == bulk("k")  # a deleted key can be set again
    assert ns.call("GET", "k") == bulk("again")


def test_exists_check_length_keytime(ns):
    before = int(time.time())
    ns.call("SET", "k", "12345")
    ns.call("SET", "empty", "")
    assert ns.call("EXISTS", "k") == b":1\r\n"
    assert ns.call("EXISTS", "nope") == b":0\r\n"
    assert ns.call("CHECK", "k") == b":1\r\n"
    assert ns.call("CHECK", "empty") == b":1\r\n"
    assert ns.call("CHECK", "nope") == NIL
    assert ns.call("LENGTH", "k") == b":5\r\n"
    assert ns.call("LENGTH", "empty") == b":0\r\n"
    assert ns.call("LENGTH", "nope") == NIL
    stamp = ns.value("KEYTIME", "k")
    assert isinstance(stamp, int)
    assert before <= stamp <= time.time() + 1
    assert ns.call("KEYTIME", "nope") == NIL
    ns.ok("DEL", "k")
    for command in ("CHECK", "LENGTH", "KEYTIME"):
        assert ns.call(command, "k") == NIL  # a deleted key is a missing key


@pytest.mark.embedded_only  # files on disk
def test_check_reports_a_damaged_value(ns):
    ns.call("SET", "good", "intact value")
    ns.call("SET", "bad", "to be damaged")
    data = Path(nsinfo(ns, ns.namespace)["data_path"]) / "zdb-data-00000"
    content = data.read_bytes()
    where = content.index(b"to be damaged")
    with open(data, "r+b") as fh:  # flip one byte of the stored value under the server
        fh.seek(where)
        fh.write(b"T")
    assert ns.call("CHECK", "bad") == b":0\r\n"
    assert ns.call("CHECK", "good") == b":1\r\n"
    assert ns.call("GET", "bad").startswith(b"-Internal Error")  # never the wrong bytes
    assert ns.call("GET", "good") == bulk("intact value")


@pytest.mark.parametrize("stamp", ["notanumber", "-5", "4294967296", "99999999999999999999"])
def test_unusable_timestamps_are_refused(ns, stamp):
    assert ns.call("SET", "k", "v", stamp) == err("Invalid argument")
    ns.call("SET", "k", "v")
    assert ns.call("DEL", "k", stamp) == err("Invalid argument")
    assert ns.call("GET", "k") == bulk("v")  # nothing written, connection still served


def test_set_and_del_with_timestamp_as_admin(ns):
    assert ns.call("SET", "k", "v", "1600000000") == bulk("k")
    assert ns.call("KEYTIME", "k") == b":1600000000\r\n"
    assert ns.call("SET", "k", "w", "4294967295") == bulk("k")
    assert ns.call("KEYTIME", "k") == b":4294967295\r\n"
    assert ns.call("SET", "k", "v", "0") == bulk("k")
    assert ns.call("KEYTIME", "k") == b":0\r\n"
    assert ns.call("DEL", "k", "1600000001") == OK
    assert ns.call("EXISTS", "k") == b":0\r\n"


def test_pipelined_commands_are_answered_in_order(ns):
    ns.sock.sendall(b"".join(encode("SET", f"k{i}", f"v{i}") for i in range(50)) + encode("DBSIZE"))
    assert [ns.read() for _ in range(50)] == [bulk(f"k{i}") for i in range(50)]
    assert ns.read() == b":50\r\n"
    ns.sock.sendall(b"".join(encode("GET", f"k{i}") for i in range(50)))
    assert [ns.read() for _ in range(50)] == [bulk(f"v{i}") for i in range(50)]


# -- listening on a unix socket, --sync --------------------------------------------------------


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: a unix socket path must fit in 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="zdb", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_unix_socket_with_redis_cli_redis_py_and_raw(zdb_factory, short_dir):
    path = str(short_dir / "zdb.sock")
    server = zdb_factory("--socket", path)
    assert cli(server, "PING", unix=path) == "PONG"
    assert cli(server, "SET", "sock", "et", unix=path) == '"sock"'
    assert cli(server, "GET", "sock", unix=path) == '"et"'
    assert cli(server, "NOPE", unix=path) == "(error) Command not supported"
    with Raw(unix=path) as conn:
        assert conn.call("GET", "sock") == bulk("et")
        assert conn.call("DEL", "sock") == OK
    client = redis.Redis(unix_socket_path=path, socket_timeout=10)
    client.response_callbacks.clear()
    assert client.execute_command("SET", "py", "unix") == b"py"
    assert plain(server).execute_command("GET", "py") == b"unix"  # same data over TCP
    client.close()
    assert server.stop() == 0
    assert not os.path.exists(path)  # removed on a clean stop


def test_sync_mode_acknowledges_durable_writes(zdb_factory):
    server = zdb_factory("--sync")
    with Raw(server.port) as conn:
        conn.sock.sendall(b"".join(encode("SET", f"k{i}", f"v{i}" * 100) for i in range(200)))
        assert [conn.read() for _ in range(200)] == [bulk(f"k{i}") for i in range(200)]
        assert conn.call("DEL", "k0") == OK
        assert conn.call("SET", "k1", "v1" * 100) == NIL
    client = plain(server)
    pipe = client.pipeline(transaction=False)
    for i in range(50):
        pipe.execute_command("SET", f"p{i}", "x")
    assert pipe.execute() == [f"p{i}".encode() for i in range(50)]
    assert cli(server, "SET", "cli", "sync") == '"cli"'
    server.kill()  # no clean shutdown: only what was synced survives
    server.start()
    with Raw(server.port) as conn:
        assert conn.call("DBSIZE") == b":250\r\n"  # 200 - 1 + 50 + 1
        assert conn.call("GET", "k0") == NIL
        assert conn.call("GET", "k199") == bulk("v199" * 100)
        assert conn.call("GET", "p49") == bulk("x")
        assert conn.call("GET", "cli") == bulk("sync")
