"""One client's cheap-to-send commands must not stall everyone else.

The server runs every command on one event loop: a command whose cost grows with the
namespace (a KEYCUR that walks the index to find a key's record, a SCAN that walks past every
overwritten version) holds up every other client. These tests pipeline such commands from one
client and time another client's PING meanwhile, against a bound far above what the bounded
commands cost and far below what the unbounded ones did (seconds at these sizes).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from .conftest import ZdbProcess
from .rawsock import RawConn, encode, is_error

pytestmark = pytest.mark.both_engines

KEYS = 100_000  # before the fix, one KEYCUR of the newest key walked all their index records
PIPELINED = 100
PING_BOUND = 1.5  # seconds; before the fix these pipelines held a PING for 5-20 s


def pipeline(conn: RawConn, commands: list[bytes], batch: int = 2000) -> list[object]:
    replies: list[object] = []
    for start in range(0, len(commands), batch):
        chunk = commands[start : start + batch]
        conn.send(b"".join(chunk))
        replies += [conn.reply(timeout=120) for _ in chunk]
    return replies


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, zdb_engine: str) -> Iterator[ZdbProcess]:
    root = tmp_path_factory.mktemp(f"zdb-fairness-{zdb_engine}")
    srv = ZdbProcess(root, engine=zdb_engine).start()
    with RawConn(srv.port, timeout=120) as conn:
        # "many": KEYS distinct keys; "hot": one key at the front, then KEYS overwrites of
        # another; either way the namespace's newest record is the last written
        for name in ("many", "hot"):
            assert conn.call("NSNEW", name) == b"OK"
        assert conn.call("SELECT", "many") == b"OK"
        keys = [b"key-%06d" % i for i in range(KEYS)]
        assert pipeline(conn, [encode("SET", k, b"v") for k in keys]) == keys
        assert conn.call("SELECT", "hot") == b"OK"
        assert conn.call("SET", "first", "v") == b"first"
        values = [b"v%d" % i for i in range(KEYS)]
        assert pipeline(conn, [encode("SET", "over", v) for v in values]) == [b"over"] * KEYS
    yield srv
    assert srv.stop() == 0


def ping_while(server: ZdbProcess, namespace: str, command: bytes) -> float:
    """Seconds another client waits for PONG while one pipelines PIPELINED x command."""
    with RawConn(server.port, timeout=60) as busy, RawConn(server.port, timeout=60) as other:
        assert busy.call("SELECT", namespace) == b"OK"
        assert other.call("PING") == b"PONG"
        busy.send(command * PIPELINED)
        time.sleep(0.05)  # the pipeline reaches the server first
        start = time.monotonic()
        assert other.call("PING") == b"PONG"
        waited = time.monotonic() - start
        replies = [busy.reply(timeout=120) for _ in range(PIPELINED)]
        assert not any(is_error(r) for r in replies), replies[:3]
        return waited


def test_pipelined_keycur_does_not_stall_others(server: ZdbProcess) -> None:
    waited = ping_while(server, "many", encode("KEYCUR", b"key-%06d" % (KEYS - 1)))
    assert waited < PING_BOUND, f"PING waited {waited:.2f} s behind {PIPELINED} KEYCUR"


@pytest.mark.parametrize("command", ["SCAN", "RSCAN"])
def test_scans_past_overwrites_do_not_stall_others(server: ZdbProcess, command: str) -> None:
    waited = ping_while(server, "hot", encode(command))
    assert waited < PING_BOUND, f"PING waited {waited:.2f} s behind {PIPELINED} {command}"


def scan_all(conn: RawConn, command: str) -> tuple[list[bytes], int]:
    """Every key a walk returns, and how many calls it took."""
    keys: list[bytes] = []
    calls = 0
    reply = conn.call(command)
    while not is_error(reply, "No more data"):
        calls += 1
        assert isinstance(reply, list), reply
        cursor, entries = reply
        keys += [entry[0] for entry in entries]
        reply = conn.call(command, cursor)
    return keys, calls


def test_a_bounded_walk_still_returns_every_key_once(server: ZdbProcess) -> None:
    # each call stops after a bounded part of the overwrites, maybe with no entry, and
    # hands back a cursor to go on from: the keys come out once each, in order
    with RawConn(server.port) as conn:
        assert conn.call("SELECT", "hot") == b"OK"
        forward, calls = scan_all(conn, "SCAN")
        assert forward == [b"first", b"over"]
        backward, _ = scan_all(conn, "RSCAN")
        assert backward == [b"over", b"first"]
        if server.engine == "embedded":
            assert calls > 2  # the walk was cut: some answers carried no key


def test_keycur_of_every_kind_of_key_continues_the_scan_after_it(server: ZdbProcess) -> None:
    # the cursor KEYCUR finds through its marks is the one SCAN hands out for the same key
    with RawConn(server.port) as conn:
        assert conn.call("SELECT", "many") == b"OK"
        for i in (0, 1, 2, 4095, 4096, 50_000, KEYS - 2):
            cursor = conn.call("KEYCUR", b"key-%06d" % i)
            reply = conn.call("SCAN", cursor)
            assert isinstance(reply, list), reply
            assert reply[1][0][0] == b"key-%06d" % (i + 1)
