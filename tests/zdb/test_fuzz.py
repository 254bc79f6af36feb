"""Fuzzing a real server over raw sockets: random and mutated commands never kill it, never
get it to send malformed RESP, and a control client keeps getting correct answers."""

from __future__ import annotations

import re
import secrets
import socket
import time
from collections.abc import Iterator

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import ZdbProcess
from .rawsock import RawConn, encode

pytestmark = pytest.mark.both_engines

COMMANDS = [
    b"PING",
    b"TIME",
    b"INFO",
    b"DBSIZE",
    b"AUTH",
    b"SELECT",
    b"NSNEW",
    b"NSDEL",
    b"NSLIST",
    b"NSINFO",
    b"NSSET",
    b"SET",
    b"GET",
    b"MGET",
    b"DEL",
    b"EXISTS",
    b"CHECK",
    b"LENGTH",
    b"KEYTIME",
    b"KEYCUR",
    b"SCAN",
    b"SCANX",
    b"RSCAN",
    b"HISTORY",
    b"FLUSH",
    b"WAIT",
    b"HELLO",
    b"KSCAN",
    b"RELOAD",
    b"set",
    b"get",
    b"Scan",
    b"NOPE",
    b"",
]
WORDS = [
    b"default",
    b"fz1",
    b"fz2",
    b"k",
    b"k1",
    b"k2",
    b"lock",
    b"freeze",
    b"password",
    b"public",
    b"worm",
    b"maxsize",
    b"mode",
    b"seq",
    b"user",
    b"0",
    b"1",
    b"*",
    b"SECURE",
    b"CHALLENGE",
    b"SET",
    b"100",
    b"-1",
    b"3",
    b"AUTH",
    b"SETNAME",
    b"\x00" * 8,
    b"\xff" * 6,
]
ARG = st.one_of(
    st.sampled_from(WORDS),
    st.binary(max_size=24),
    st.integers(-(2**70), 2**70).map(lambda n: str(n).encode()),
    st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=2), st.integers(0, 300)),
)
COMMAND = st.builds(
    lambda name, args: [name, *args], st.sampled_from(COMMANDS), st.lists(ARG, max_size=5)
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, int | None]:
    """Bytes to send, and how many replies a well-formed pipeline must get (None: unknown)."""
    commands = draw(st.lists(COMMAND, min_size=1, max_size=4))
    data = bytearray(b"".join(encode(*c) for c in commands))
    how = draw(st.sampled_from(["none", "none", "flip", "cut", "insert", "splice", "random"]))
    if how == "none":
        waits = any(c[0].upper() == b"WAIT" for c in commands)
        return bytes(data), None if waits else len(commands)
    if how == "random":
        return draw(st.binary(min_size=1, max_size=200)), None
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        if how == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif how == "cut":
            del data[pos:]
            break
        elif how == "insert":
            data[pos:pos] = draw(
                st.sampled_from([b"\r\n", b"*", b"$", b"-1", b"*1\r\n", b"$9999\r\n", b"\x00"])
            )
        elif how == "splice":
            start = draw(st.integers(0, len(data)))
            data[pos:pos] = data[start : start + draw(st.integers(1, 40))]
    return bytes(data), None


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, zdb_engine: str) -> Iterator[ZdbProcess]:
    root = tmp_path_factory.mktemp(f"zdb-fuzz-{zdb_engine}")
    srv = ZdbProcess(root, "--datasize", "1M", engine=zdb_engine).start()
    yield srv
    srv.stop()


def _exchange(port: int, data: bytes, expected: int | None) -> list[object]:
    """Send data on a fresh connection; collect replies until the server is quiet or closes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    reader = hiredis.Reader()
    replies: list[object] = []
    try:
        sock.sendall(data)
        quiet = 0.03 if expected is None else 2.0
        while True:
            sock.settimeout(quiet)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            reader.feed(chunk)  # malformed RESP from the server raises here
            while (item := reader.gets()) is not False:
                replies.append(item)
            if expected is not None and len(replies) >= expected:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed early on bad bytes: fine
    finally:
        sock.close()
    return replies


def test_fuzzed_commands_never_hurt_the_server(fuzz_server):
    control = RawConn(fuzz_server.port)
    # a namespace no fuzzed command can name
    ns = "ctl-" + secrets.token_hex(8)
    assert control.call("NSNEW", ns) == b"OK"
    assert control.call("SELECT", ns) == b"OK"
    written: dict[bytes, bytes] = {}
    count = 0
    started = time.monotonic()

    @settings(
        max_examples=250,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutated())
    def one(example: tuple[bytes, int | None]) -> None:
        nonlocal count
        data, expected = example
        replies = _exchange(fuzz_server.port, data, expected)
        if expected is not None:
            assert len(replies) == expected, f"{data!r} got {replies!r}"
        assert fuzz_server.proc is not None
        assert fuzz_server.proc.poll() is None, "server died"
        count += 1
        key, value = b"c%d" % count, b"%d" % count * (count % 7)
        assert control.call("SET", key, value) == key
        written[key] = value
        assert control.call("GET", key) == value
        assert control.call("DBSIZE") == len(written)

    try:
        one()
        # everything the control client wrote is intact
        for key, value in written.items():
            assert control.call("GET", key) == value
    finally:
        control.close()
    assert time.monotonic() - started < 120
    log = fuzz_server.log.read_text(errors="replace")
    crashes = re.findall(r"^(Traceback|Fatal error|.*Exception in callback).*$", log, re.M)
    assert not crashes, log[-4000:]
