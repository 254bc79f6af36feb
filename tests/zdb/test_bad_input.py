"""Bad input from one client: it gets an error line, its connection closes only where the
stream cannot be resynchronised, the server's memory stays bounded, and a second client
connected the whole time keeps being served correctly."""

from __future__ import annotations

import random
import select
import socket
import time
from collections.abc import Iterator

import pytest

from .conftest import ZdbProcess
from .rawsock import Closed, RawConn, alive, encode, is_error, rss_kib

pytestmark = pytest.mark.both_engines

MIB = 1024 * 1024
MAX_BULK = 8 * MIB
DRAIN = 2.0  # server.DRAIN_SECONDS: how long a closing connection's input is still read


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, zdb_engine: str) -> Iterator[ZdbProcess]:
    root = tmp_path_factory.mktemp(f"zdb-bad-input-{zdb_engine}")
    srv = ZdbProcess(root, engine=zdb_engine).start()
    yield srv
    assert srv.stop() == 0


class Control:
    """A well-behaved client connected for the whole module: every check writes a new value
    and reads it back, so a server that lost track of anything shows it."""

    def __init__(self, server: ZdbProcess) -> None:
        self.server = server
        self.conn = RawConn(server.port)
        self.n = 0
        assert self.conn.call("NSNEW", "control") == b"OK"
        assert self.conn.call("SELECT", "control") == b"OK"

    def check(self) -> None:
        assert self.server.proc is not None
        assert self.server.proc.poll() is None, "server died"
        self.n += 1
        key, value = b"control-%d" % self.n, b"value %d " % self.n * (1 + self.n % 50)
        assert self.conn.call("PING") == b"PONG"
        assert self.conn.call("SET", key, value) == key
        assert self.conn.call("GET", key) == value
        assert self.conn.call("DBSIZE") == self.n


@pytest.fixture(scope="module")
def control(server: ZdbProcess) -> Iterator[Control]:
    ctl = Control(server)
    yield ctl
    ctl.conn.close()


@pytest.fixture(autouse=True)
def _control_before_and_after(control: Control) -> Iterator[None]:
    control.check()
    yield
    control.check()


def assert_closes(conn: RawConn) -> None:
    """The server closes the connection (after draining what is still coming)."""
    assert conn.closed_within(DRAIN + 3), "the connection should have been closed"


def assert_usable(conn: RawConn) -> None:
    """The stream is in step: a PING and a round trip on the same connection work."""
    assert conn.call("PING") == b"PONG"
    assert conn.call("EXISTS", b"no-such-key") == 0


# -- malformed RESP: the stream cannot be resynchronised -> error line, then close -----------
NOT_ARRAY = "Malformed request, array expected"
NOT_BULK = "Malformed query string"
CLOSING = {
    "inline PING": (b"PING\r\n", NOT_ARRAY),
    "inline GET": (b"GET key\r\n", NOT_ARRAY),
    "simple string": (b"+OK\r\n", NOT_ARRAY),
    "integer": (b":1\r\n", NOT_ARRAY),
    "bare bulk": (b"$3\r\nfoo\r\n", NOT_ARRAY),
    "error": (b"-ERR oops\r\n", NOT_ARRAY),
    "null array": (b"*-1\r\n", "Bad multi-bulk length"),
    "resp3 map": (b"%1\r\n$1\r\na\r\n$1\r\nb\r\n", NOT_ARRAY),
    # hiredis raised TypeError (not ProtocolError) for a map keyed by an array: found by fuzzing
    "resp3 map with an array key": (b"%1\r\n*1\r\n$1\r\na\r\n:1\r\n", NOT_ARRAY),
    "resp3 null": (b"_\r\n", NOT_ARRAY),
    "resp3 bool": (b"#t\r\n", NOT_ARRAY),
    "resp3 double": (b",1.5\r\n", NOT_ARRAY),
    "bad array length": (b"*x\r\n", "Bad multi-bulk length"),
    "array length with a leading zero": (b"*01\r\n$4\r\nPING\r\n", "Bad multi-bulk length"),
    "bad bulk length": (b"*1\r\n$abc\r\n", "Bad bulk string length"),
    "negative bulk length": (b"*2\r\n$3\r\nGET\r\n$-5\r\n", "Bad bulk string length"),
    "binary junk": (b"\x00\x01\x02garbage\xff\r\n", NOT_ARRAY),
    "telnet noise": (b"\xff\xfb\x1f\xff\xfb\x20", NOT_ARRAY),
    # arguments that are not bulk strings: where the command ends depends on parsing what no
    # command may hold, so the stream is not followed further (0-db: "parser state unreliable")
    "nested array": (b"*2\r\n$3\r\nGET\r\n*1\r\n$1\r\na\r\n", NOT_BULK),
    "deeply nested": (b"*1\r\n" * 12 + b"$1\r\na\r\n", NOT_BULK),
    "integer argument": (b"*2\r\n$4\r\nPING\r\n:1\r\n", NOT_BULK),
    "error argument": (b"*2\r\n$3\r\nGET\r\n-err\r\n", NOT_BULK),
    "absurd argument count": (b"*2147483648\r\n", "Too many arguments"),
}


def is_line(reply: object, line: str) -> bool:
    """Whether a reply is exactly this error line."""
    return is_error(reply) and str(reply) == line


def test_malformed_input_gets_an_error_line_then_the_connection_closes(server):
    # every case on its own connection at once: each close comes after the server's drain
    # time, so waiting for them one after the other would cost that time per case
    conns = {name: RawConn(server.port) for name in CLOSING}
    try:
        for name, conn in conns.items():
            conn.send(CLOSING[name][0])
        for name, conn in conns.items():
            reply = conn.reply(timeout=5)
            assert is_line(reply, CLOSING[name][1]), (name, reply)
            # a good command after it is not run: the stream is not trusted any more
            conn.send(encode("SET", f"after-{name}", "x"))
        for name, conn in conns.items():
            assert conn.closed_within(DRAIN + 3), f"{name}: the connection should have closed"
    finally:
        for conn in conns.values():
            conn.close()
    with RawConn(server.port) as probe:
        for name in CLOSING:
            assert probe.call("EXISTS", f"after-{name}") == 0, name


def test_inline_command_gets_0db_error_line(server):
    with RawConn(server.port) as conn:
        conn.send(b"PING\r\n")
        assert is_line(conn.reply(), NOT_ARRAY)
        assert_closes(conn)


def test_random_junk_gets_an_error_line_then_close(server):
    rng = random.Random("junk")
    conns = [RawConn(server.port) for _ in range(20)]
    try:
        for conn in conns:  # all at once, as above
            junk = bytes([rng.choice(b"\x00\x01ABCxyz\r\n\t \x7f\xfe")]) + rng.randbytes(
                rng.randrange(0, 300)
            )
            conn.send(junk)
        for conn in conns:  # none starts with "*"
            assert is_line(conn.reply(timeout=5), NOT_ARRAY)
        for conn in conns:
            assert_closes(conn)
    finally:
        for conn in conns:
            conn.close()


# -- bad but well-framed: error line, the connection stays usable ---------------------------
RESYNC = {
    "empty array": (b"*0\r\n", "Missing arguments"),
    "null argument": (b"*2\r\n$3\r\nGET\r\n$-1\r\n", NOT_BULK),
    "unknown command": (encode("NOSUCHCOMMAND", "a"), "Command not supported"),
    "empty command name": (encode(""), "This is not a valid command"),
    "binary command name": (encode(b"\x00\xff\r\n"), "Command not supported"),
    "SET key too long": (encode("SET", b"k" * 256, "v"), "Key too large"),
    "GET key too long": (encode("GET", b"k" * 256), "Invalid key"),
    "DEL key too long": (encode("DEL", b"k" * 256), "Invalid key"),
    "MGET key too long": (encode("MGET", "a", b"k" * 256), "Invalid key"),
    "SET no arguments": (encode("SET"), "Unexpected arguments"),
    "GET too many": (encode("GET", "a", "b"), "Unexpected arguments"),
    "SCAN bad cursor": (encode("SCAN", b"\x00" * 5), "Invalid key format"),
    "HISTORY bad cursor": (encode("HISTORY", "k", b"\xff" * 8), "Invalid arguments (index query)"),
    "SELECT missing namespace": (encode("SELECT", "nope-no-such-ns"), "Namespace not found"),
    "NSINFO long name": (encode("NSINFO", b"n" * 300), "Namespace too long"),
    "WAIT bad timeout": (encode("WAIT", "SET", "x"), "Invalid timeout"),
    "WAIT bad command": (encode("WAIT", "NOPE"), "Unknown command to watch"),
    "AUTH without admin password": (encode("AUTH", "secret"), "Authentication disabled"),
    "too many arguments": (encode("PING", *[b"x"] * 1024), "Too many arguments"),
}


@pytest.mark.parametrize(("data", "line"), list(RESYNC.values()), ids=list(RESYNC))
def test_bad_command_gets_an_error_line_and_the_stream_stays_in_step(server, data, line):
    with RawConn(server.port) as conn:
        # between two good commands, in one pipeline: the replies come back in order
        conn.send(encode("PING") + data + encode("ECHO-IS-UNKNOWN") + encode("PING"))
        assert conn.reply() == b"PONG"
        reply = conn.reply()
        assert is_line(reply, line), reply
        assert is_line(conn.reply(), "Command not supported")
        assert conn.reply() == b"PONG"
        assert_usable(conn)


def test_too_many_arguments(server):
    with RawConn(server.port) as conn:
        assert is_line(conn.call("MGET", *[b"k%d" % i for i in range(1024)]), "Too many arguments")
        assert_usable(conn)
        reply = conn.call("MGET", *[b"k%d" % i for i in range(1023)])  # 1024 with MGET itself
        assert reply == [None] * 1023
        # far over the limit, still a whole command: the stream stays in step
        assert is_line(conn.call("PING", *[b"x"] * 20_000), "Too many arguments")
        assert_usable(conn)


def test_too_many_arguments_is_answered_at_the_header(server):
    # 0-db answers as soon as the header is read: a client that waits for that answer
    # before sending the arguments must not wait forever
    with RawConn(server.port) as conn:
        conn.send(b"*1025\r\n")
        assert is_line(conn.reply(timeout=5), "Too many arguments")
        # the announced arguments are passed over unread: the stream stays in step
        conn.send(b"$3\r\nGET\r\n" + b"$1\r\nk\r\n" * 1024)
        assert_usable(conn)


def test_unfinished_arrays_of_small_strings_cannot_amplify_memory(server):
    # each 2-byte argument would cost hiredis a Python object (~40 bytes): 8 MB on the wire
    # per connection became ~50 MB in the server, and never-finished commands kept it
    pid = server.proc.pid
    base = rss_kib(pid)
    conns = [RawConn(server.port, timeout=60) for _ in range(8)]
    try:
        for conn in conns:
            conn.send(b"*1000010\r\n" + b"$2\r\nab\r\n" * 1_000_000)
            assert is_line(conn.reply(timeout=30), "Too many arguments")
        with RawConn(server.port) as probe:
            assert_usable(probe)  # the server read everything sent so far
        grown = rss_kib(pid) - base
        assert grown < 32 * 1024, f"server memory grew by {grown} KiB"
        for conn in conns:  # the last 10 arguments: each connection is back in step
            conn.send(b"$2\r\nab\r\n" * 10)
            assert_usable(conn)
    finally:
        for conn in conns:
            conn.close()


def test_huge_announced_array_gets_an_error_line(server):
    with RawConn(server.port) as conn:
        conn.send(b"*4294967295\r\n")
        assert is_line(conn.reply(timeout=5), "Too many arguments")
        assert_closes(conn)


def test_keys_at_and_over_255_bytes(server):
    with RawConn(server.port) as conn:
        key = bytes(range(255))
        assert conn.call("SET", key, "v") == key
        assert conn.call("GET", key) == b"v"
        long_key = key + b"!"
        assert is_line(conn.call("SET", long_key, "v"), "Key too large")
        for command in ("GET", "EXISTS", "CHECK", "DEL", "LENGTH"):
            assert is_line(conn.call(command, long_key), "Invalid key"), command
        # 0-db checks no key length in KEYCUR: a longer key is just not there
        assert is_line(conn.call("KEYCUR", long_key), "Key not found")
        assert conn.call("DEL", key) == b"OK"
        assert_usable(conn)


def test_biggest_value_fits_and_one_byte_more_is_refused(server):
    with RawConn(server.port) as conn:
        value = b"\xab" * MAX_BULK
        assert conn.call("SET", "max", value) == b"max"
        assert conn.call("GET", "max") == value
        reply = conn.call("SET", "over", value + b"!")
        assert is_line(reply, "Payload too big"), reply
        # the command was whole: it is refused, the stream is in step
        assert conn.call("EXISTS", "over") == 0
        assert conn.call("DEL", "max") == b"OK"


def test_bulk_over_8mib_error_is_read_before_the_close(server):
    with RawConn(server.port) as conn:
        payload = b"z" * (9 * MIB)
        # the client writes all of it (the server keeps reading and dropping), then reads
        conn.send(b"*3\r\n$3\r\nSET\r\n$4\r\nhuge\r\n$%d\r\n" % len(payload) + payload + b"\r\n")
        assert is_line(conn.reply(timeout=10), "Payload too big")
        assert_closes(conn)
    with RawConn(server.port) as probe:
        assert probe.call("EXISTS", "huge") == 0


# -- passwords ------------------------------------------------------------------------------
def test_wrong_passwords(zdb_factory):
    srv = zdb_factory("--admin", "the-admin-secret")
    with RawConn(srv.port) as admin, RawConn(srv.port) as other:
        assert is_line(admin.call("NSNEW", "x"), "Permission denied")
        for wrong in ("nope", "the-admin-secre", "the-admin-secret ", b"\x00" * 5, "x" * 128):
            assert is_line(admin.call("AUTH", wrong), "Access denied")
        assert is_line(admin.call("AUTH", "x" * 129), "Password too long")
        assert is_line(admin.call("AUTH", ""), "Invalid argument")
        assert is_line(
            admin.call("AUTH", "SECURE", "0" * 40),
            "No CHALLENGE requested, secure authentication not available",
        )
        assert admin.call("AUTH", "the-admin-secret") == b"OK"
        assert admin.call("NSNEW", "private") == b"OK"
        assert admin.call("NSSET", "private", "password", "ns-pass") == b"OK"
        assert admin.call("NSSET", "private", "public", "0") == b"OK"
        for wrong in ("nope", "ns-pas", "ns-pass\x00", "x" * 255):
            assert is_line(other.call("SELECT", "private", wrong), "Access denied")
        assert is_line(other.call("SELECT", "private", "x" * 256), "Password too long")
        assert is_line(other.call("SELECT", "private"), "Namespace protected and private")
        assert other.call("SELECT", "private", "ns-pass") == b"OK"
        assert other.call("SET", "k", "v") == b"k"
        assert is_line(other.call("NSDEL", "private"), "Permission denied")
        assert admin.call("PING") == b"PONG"


# -- clients that never finish or never read: memory stays bounded ---------------------------
def _stream_until_dropped(server, head: bytes, chunk: bytes) -> tuple[int, bytes, float]:
    """Send head then chunk after chunk until the server drops the connection.

    Full speed until the server's error line comes, then slowly (the server drains for a
    while before it closes). Returns the server's peak RSS growth in KiB, what it replied,
    and how long after its error line the connection was dropped (inf: never).
    """
    pid = server.proc.pid
    base = rss_kib(pid)
    peak = 0
    replies = b""
    sent = 0
    errored_at = None
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    deadline = time.monotonic() + 60
    try:
        sock.sendall(head)
        while time.monotonic() < deadline:
            try:
                sock.sendall(chunk)
            except OSError:  # reset or broken pipe: dropped
                break
            sent += len(chunk)
            if sent % (2 * MIB) < len(chunk):
                peak = max(peak, rss_kib(pid) - base)
            if errored_at is None:
                while select.select([sock], [], [], 0)[0]:
                    data = sock.recv(65536)
                    if not data:
                        break
                    replies += data
                    errored_at = time.monotonic()
                    deadline = errored_at + DRAIN + 5
            else:
                time.sleep(0.05)
        peak = max(peak, rss_kib(pid) - base)
    finally:
        sock.close()
    dropped = (
        time.monotonic() - errored_at
        if errored_at and time.monotonic() < deadline
        else float("inf")
    )
    return peak, replies, dropped


def test_never_finishing_bulk_is_dropped_with_bounded_memory(server):
    head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000000\r\n"
    peak, replies, dropped = _stream_until_dropped(server, head, b"x" * 65536)
    assert replies == b"-Payload too big\r\n", replies[:100]
    assert dropped < DRAIN + 2, "the server should have dropped the connection"
    assert peak < 48 * 1024, f"server memory grew by {peak} KiB"


def test_never_finishing_array_of_small_strings_is_dropped_with_bounded_memory(server):
    # hiredis turns each element into an object as it arrives, so its buffer stays small:
    # the limit must count the bytes of the unfinished command, not the buffer
    head = b"*100000000\r\n"
    peak, replies, dropped = _stream_until_dropped(server, head, b"$2\r\nab\r\n" * 8192)
    assert replies == b"-Too many arguments\r\n", replies[:100]
    assert dropped < DRAIN + 2, "the server should have dropped the connection"
    assert peak < 120 * 1024, f"server memory grew by {peak} KiB"


def test_many_clients_sending_half_a_command_then_leaving(server):
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nonly part")
        sock.close()
    with RawConn(server.port) as conn:
        assert conn.call("EXISTS", "k") == 0
        assert_usable(conn)


def test_client_that_does_not_read_replies_cannot_grow_memory(server):
    with RawConn(server.port) as conn:
        assert conn.call("SET", "big16k", b"v" * 16384) == b"big16k"
    pid = server.proc.pid
    base = rss_kib(pid)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    try:
        sock.sendall(encode("GET", "big16k") * 4000)  # 64 KB asking for 64 MB of replies
        peak = 0
        for _ in range(15):
            time.sleep(0.1)
            peak = max(peak, rss_kib(pid) - base)
    finally:
        sock.close()
    assert alive(pid)
    assert peak < 32 * 1024, f"server memory grew by {peak} KiB"


def test_connection_dropped_mid_reply(server):
    with RawConn(server.port) as conn:
        assert conn.call("SET", "big1m", b"m" * MIB) == b"big1m"
    for _ in range(10):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(encode("GET", "big1m") * 20)
        sock.recv(1000)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # RST with replies still being written
    with RawConn(server.port) as conn:
        assert conn.call("GET", "big1m") == b"m" * MIB
        assert conn.call("DEL", "big1m") == b"OK"


def test_closed_connection_raises_in_helper(server):
    # the helper itself: a closed connection is reported, not waited on
    with RawConn(server.port) as conn:
        conn.send(b"PING\r\n")
        assert is_line(conn.reply(), NOT_ARRAY)
        with pytest.raises(Closed):
            conn.reply(timeout=DRAIN + 3)
