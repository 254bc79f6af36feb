"""Walking a namespace: SCAN and RSCAN with cursors, KEYCUR, and HISTORY of a key."""

from __future__ import annotations

import re
import time

import pytest
import redis

from .test_commands import NIL, OK, Raw, attach, cli, encode, err, new_namespace, parse, plain

pytestmark = pytest.mark.both_engines

NO_MORE = "No more data"


@pytest.fixture
def ns(zdb_shared):
    conn = attach(zdb_shared, new_namespace(zdb_shared))
    yield conn
    conn.close()


def scan_page(conn: Raw, command: str, *cursor: bytes) -> tuple[bytes, list[list[object]]]:
    reply = conn.call(command, *cursor)
    assert reply.startswith(b"*2\r\n$"), reply
    value = parse(reply)
    assert isinstance(value, list)
    assert len(value) == 2
    next_cursor, entries = value
    assert isinstance(next_cursor, bytes)
    assert isinstance(entries, list)
    assert entries
    return next_cursor, entries


def scan_all(conn: Raw, command: str = "SCAN", start: bytes | None = None) -> list[bytes]:
    """Every key a full walk returns, following cursors until "No more data"."""
    keys: list[bytes] = []
    cursor = start
    while True:
        reply = conn.call(command, *([cursor] if cursor is not None else []))
        if reply == err(NO_MORE):
            return keys
        cursor, entries = scan_page(conn, command, *([cursor] if cursor is not None else []))
        keys += [e[0] for e in entries]  # type: ignore[misc]
        assert len(keys) < 10_000


def test_empty_namespace_has_no_data(ns):
    assert ns.call("SCAN") == err(NO_MORE)
    assert ns.call("RSCAN") == err(NO_MORE)
    assert ns.call("SCANX") == err(NO_MORE)


def test_scan_entries_carry_key_size_and_time(ns):
    before = int(time.time())
    ns.call("SET", "a", "12345")
    ns.call("SET", "b", "")
    ns.call("SET", "c", "x", "1600000000")
    reply = ns.call("SCAN")
    match = re.match(rb"\*2\r\n\$(\d+)\r\n", reply)
    assert match
    cursor, entries = parse(reply)  # type: ignore[misc]
    assert [(e[0], e[1]) for e in entries] == [(b"a", 5), (b"b", 0), (b"c", 1)]
    assert all(isinstance(e[2], int) for e in entries)
    assert before <= entries[0][2] <= time.time() + 1
    assert entries[2][2] == 1600000000
    # the cursor names the last entry returned: nothing follows it
    assert ns.call("SCAN", cursor) == err(NO_MORE)
    assert ns.call("SCANX") == reply


def test_scan_walks_everything_in_write_order_across_batches(ns):
    keys = [f"key{i:04d}".encode() for i in range(250)]
    ns.sock.sendall(b"".join(encode("SET", k, b"v") for k in keys))
    for _ in keys:
        ns.read()
    pages = 0
    cursor = None
    seen: list[bytes] = []
    while True:
        args = [cursor] if cursor is not None else []
        if pages and ns.call("SCAN", *args) == err(NO_MORE):
            break
        cursor, entries = scan_page(ns, "SCAN", *args)
        seen += [e[0] for e in entries]  # type: ignore[misc]
        pages += 1
    assert seen == keys
    assert pages >= 3  # more than one batch: cursors were followed
    assert scan_all(ns, "RSCAN") == keys[::-1]


def test_overwritten_keys_move_and_deleted_keys_vanish(ns):
    for key in ("a", "b", "c", "d"):
        ns.call("SET", key, "1")
    ns.call("SET", "b", "2")
    assert ns.call("SET", "c", "1") == NIL  # unchanged: keeps its place
    ns.ok("DEL", "a")
    assert scan_all(ns) == [b"c", b"d", b"b"]
    assert scan_all(ns, "RSCAN") == [b"b", b"d", b"c"]
    ns.ok("DEL", "b")
    ns.ok("DEL", "c")
    ns.ok("DEL", "d")
    assert ns.call("SCAN") == err(NO_MORE)
    assert ns.call("RSCAN") == err(NO_MORE)


def test_keycur_starts_a_scan_after_the_key(ns):
    for key in ("a", "b", "c", "d", "e"):
        ns.call("SET", key, key * 3)
    cursor = ns.value("KEYCUR", "c")
    assert isinstance(cursor, bytes)
    assert cursor
    assert scan_all(ns, start=cursor) == [b"d", b"e"]
    assert scan_all(ns, "RSCAN", start=cursor) == [b"b", b"a"]
    assert ns.call("SCAN", ns.value("KEYCUR", "e")) == err(NO_MORE)  # type: ignore[arg-type]
    assert ns.call("RSCAN", ns.value("KEYCUR", "a")) == err(NO_MORE)  # type: ignore[arg-type]
    ns.call("SET", "c", "new")  # the key's cursor follows its newest version
    assert scan_all(ns, start=ns.value("KEYCUR", "c")) == []  # type: ignore[arg-type]
    assert scan_all(ns, start=ns.value("KEYCUR", "b")) == [b"d", b"e", b"c"]  # type: ignore[arg-type]
    ns.ok("DEL", "c")
    assert ns.call("KEYCUR", "c") == err("Key not found")
    assert ns.call("KEYCUR", "never") == err("Key not found")


def test_a_scan_cursor_equals_keycur_of_the_last_entry(ns):
    for key in ("a", "b", "c"):
        ns.call("SET", key, "v")
    cursor, entries = scan_page(ns, "SCAN")
    assert entries[-1][0] == b"c"
    assert cursor == ns.value("KEYCUR", "c")
    cursor, entries = scan_page(ns, "RSCAN")
    assert entries[-1][0] == b"a"
    assert cursor == ns.value("KEYCUR", "a")


@pytest.mark.parametrize("command", ["SCAN", "RSCAN"])
def test_bad_cursors_are_refused(ns, command):
    for key in ("a", "b"):
        ns.call("SET", key, "v")
    good = ns.value("KEYCUR", "a")
    assert isinstance(good, bytes)
    bad = [
        b"garbage",
        b"",
        good + b"\x00",
        good[:-1],
        bytes([good[0] ^ 0x01]) + good[1:],  # another file
        good[:-1] + bytes([good[-1] ^ 0x01]),  # inside a record
        b"\xff" * len(good),
    ]
    for cursor in bad:
        assert ns.call(command, cursor) == err("Invalid key format"), cursor
    if command == "SCAN":  # the good cursor still works
        assert scan_all(ns, start=good) == [b"b"]
    else:
        assert ns.call(command, good) == err(NO_MORE)


def test_scan_with_redis_py_and_redis_cli(zdb_shared):
    name = new_namespace(zdb_shared)
    client = plain(zdb_shared)
    assert client.execute_command("SELECT", name) == b"OK"
    with pytest.raises(redis.ResponseError, match=rf"^{NO_MORE}$"):
        client.execute_command("SCAN")
    client.execute_command("SET", "one", "1")
    client.execute_command("SET", "two", "22")
    _cursor, entries = client.execute_command("SCAN")
    assert [(e[0], e[1]) for e in entries] == [(b"one", 1), (b"two", 2)]
    _cursor, entries = client.execute_command("RSCAN")
    assert [e[0] for e in entries] == [b"two", b"one"]
    with pytest.raises(redis.ResponseError, match=r"^Invalid key format$"):
        client.execute_command("SCAN", b"nonsense")
    out = cli(zdb_shared, stdin=f"SELECT {name}\nSCAN\n").splitlines()
    assert out[0] == "OK"
    assert out[1].startswith('1) "')
    assert out[2:] == [
        '2) 1) 1) "one"',
        "      2) (integer) 1",
        f"      3) (integer) {entries[1][2]}",
        '   2) 1) "two"',
        "      2) (integer) 2",
        f"      3) (integer) {entries[0][2]}",
    ]


# -- HISTORY ----------------------------------------------------------------------------------


def test_history_walks_every_version(ns):
    for n in range(1, 5):
        ns.call("SET", "k", f"value {n}", str(1600000000 + n))
    ns.call("SET", "other", "x")
    versions = []
    reply = ns.call("HISTORY", "k")
    while True:
        match = re.fullmatch(
            rb"\*3\r\n(\$8\r\n(.{8})\r\n|\$-1\r\n)\$10\r\n(\d{10})\r\n\$\d+\r\n(.*)\r\n",
            reply,
            re.S,
        )
        assert match, reply
        parent, stamp, value = match[2], int(match[3]), match[4]
        versions.append((stamp, value))
        if parent is None:
            break
        reply = ns.call("HISTORY", "k", parent)
    assert versions == [(1600000000 + n, f"value {n}".encode()) for n in range(4, 0, -1)]
    assert ns.call("GET", "k") == b"$7\r\nvalue 4\r\n"  # reading history changes nothing


def test_history_errors(ns):
    ns.call("SET", "k", "v1")
    ns.call("SET", "k", "v2")
    ns.call("SET", "other", "o1")
    ns.call("SET", "other", "o2")
    parent, _stamp, value = ns.value("HISTORY", "k")  # type: ignore[misc]
    assert value == b"v2"
    assert isinstance(parent, bytes)
    assert len(parent) == 8
    other_parent = ns.value("HISTORY", "other")[0]  # type: ignore[index]
    assert ns.call("HISTORY") == err("Invalid arguments")
    assert ns.call("HISTORY", "k", parent, "x") == err("Invalid arguments")
    assert ns.call("HISTORY", "k", parent[:6]) == err("Invalid arguments")  # ekey is 8 bytes
    assert ns.call("HISTORY", "k", parent + b"\x00") == err("Invalid arguments")
    assert ns.call("HISTORY", "k", other_parent) == err("Invalid arguments (invalid key)")
    inside = (int.from_bytes(parent, "little") + 1).to_bytes(8, "little")
    assert ns.call("HISTORY", "k", inside) == err("Invalid arguments (index query)")
    assert ns.call("HISTORY", "k", b"\xff" * 8) == err("Invalid arguments (index query)")
    assert ns.call("HISTORY", "missing") == err("Key not found")
    ns.ok("DEL", "k")
    assert ns.call("HISTORY", "k") == err("Key not found")


def test_history_with_redis_py_and_redis_cli(zdb_shared):
    name = new_namespace(zdb_shared)
    client = plain(zdb_shared)
    client.execute_command("SELECT", name)
    client.execute_command("SET", "k", "old", "1600000001")
    client.execute_command("SET", "k", "new", "1600000002")
    parent, stamp, value = client.execute_command("HISTORY", "k")
    assert (stamp, value) == (b"1600000002", b"new")  # the time is text, not an integer
    assert client.execute_command("HISTORY", "k", parent) == [None, b"1600000001", b"old"]
    with pytest.raises(redis.ResponseError, match=r"^Key not found$"):
        client.execute_command("HISTORY", "nope")
    out = cli(zdb_shared, stdin=f"SELECT {name}\nHISTORY k\n").splitlines()
    assert out[0] == "OK"
    assert out[1].startswith('1) "')
    assert out[2:] == ['2) "1600000002"', '3) "new"']


def test_history_and_scan_survive_a_restart(zdb_factory):
    server = zdb_factory()
    with Raw(server.port) as conn:
        conn.call("SET", "k", "v1")
        conn.call("SET", "j", "j")
        conn.call("SET", "k", "v2")
        cursor = conn.value("KEYCUR", "j")
    server.restart()
    with Raw(server.port) as conn:
        parent, _stamp, value = conn.value("HISTORY", "k")  # type: ignore[misc]
        assert value == b"v2"
        assert conn.value("HISTORY", "k", parent)[2] == b"v1"  # type: ignore[index]
        assert scan_all(conn) == [b"j", b"k"]
        assert scan_all(conn, start=cursor) == [b"k"]  # type: ignore[arg-type]
        assert conn.call("DEL", "k") == OK
