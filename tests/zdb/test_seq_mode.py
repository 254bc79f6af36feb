"""Sequential mode: the server allocates 8-byte little-endian ids; keys can only be updated."""

from __future__ import annotations

import pytest

from .test_commands import NIL, OK, Raw, attach, bulk, cli, err, new_namespace, nsinfo, plain

pytestmark = pytest.mark.both_engines

ONLY_UPDATE = "Invalid key, only update authorized"


def seqid(n: int) -> bytes:
    return n.to_bytes(8, "little")


@pytest.fixture
def seq(zdb_shared):
    """A raw connection on a fresh sequential namespace of the shared server."""
    conn = attach(zdb_shared, new_namespace(zdb_shared, ("mode", "seq")))
    yield conn
    conn.close()


def test_empty_key_allocates_ids_from_zero(seq):
    assert nsinfo(seq, seq.namespace)["mode"] == "sequential"
    for n in range(300):
        assert seq.call("SET", "", f"value {n}") == bulk(seqid(n))
    assert seq.call("GET", seqid(0)) == bulk("value 0")
    assert seq.call("GET", seqid(299)) == bulk("value 299")
    assert seq.call("GET", seqid(300)) == NIL
    assert seq.call("DBSIZE") == b":300\r\n"
    assert seq.call("MGET", seqid(1), seqid(1000)) == b"*2\r\n" + bulk("value 1") + NIL


def test_next_internal_id_is_shown_byte_swapped(seq):
    assert nsinfo(seq, seq.namespace)["next_internal_id"] == "0x00000000"
    seq.call("SET", "", "a")
    assert nsinfo(seq, seq.namespace)["next_internal_id"] == "0x01000000"
    for _ in range(257):
        seq.call("SET", "", "b")
    assert nsinfo(seq, seq.namespace)["next_internal_id"] == "0x02010000"  # id 258 = 0x0102


def test_only_existing_ids_can_be_updated(seq):
    assert seq.call("SET", "", "v1") == bulk(seqid(0))
    assert seq.call("SET", seqid(0), "v2") == bulk(seqid(0))
    assert seq.call("GET", seqid(0)) == bulk("v2")
    assert seq.call("SET", seqid(0), "v2") == NIL  # unchanged value: nothing written
    for key in (seqid(1), seqid(99), b"\x00" * 4, b"\x00", b"name", b"\x00" * 9):
        assert seq.call("SET", key, "x") == err(ONLY_UPDATE), key
    assert seq.call("SET", "k" * 256, "x") == err("Key too large")
    assert seq.call("DBSIZE") == b":1\r\n"
    assert seq.call("SET", "", "v3") == bulk(seqid(1))  # refused keys used no id


def test_deleted_ids_are_not_reused(seq):
    for n in range(3):
        seq.call("SET", "", f"v{n}")
    assert seq.call("DEL", seqid(2)) == OK
    assert seq.call("DEL", seqid(2)) == err("Key not found")
    assert seq.call("GET", seqid(2)) == NIL
    assert seq.call("SET", seqid(2), "back") == err(ONLY_UPDATE)  # a deleted id is gone
    assert seq.call("SET", "", "next") == bulk(seqid(3))
    assert seq.call("EXISTS", seqid(1)) == b":1\r\n"
    assert seq.call("LENGTH", seqid(3)) == b":4\r\n"


def test_worm_in_sequential_mode_allows_new_ids_only(seq):
    seq.call("SET", "", "first")
    seq.ok("NSSET", seq.namespace, "worm", "1")
    assert seq.call("SET", "", "second") == bulk(seqid(1))
    assert seq.call("SET", seqid(0), "changed") == err("Namespace is protected by worm mode")
    assert seq.call("DEL", seqid(0)) == err("Cannot delete a key when namespace is in worm mode")


def test_scan_and_history_in_sequential_mode(seq):
    seq.call("SET", "", "a")
    seq.call("SET", "", "b")
    seq.call("SET", seqid(0), "a2")
    _cursor, entries = seq.value("SCAN")  # type: ignore[misc]
    assert [e[0] for e in entries] == [seqid(1), seqid(0)]  # order of last write
    assert [e[1] for e in entries] == [1, 2]
    parent, _stamp, value = seq.value("HISTORY", seqid(0))  # type: ignore[misc]
    assert value == b"a2"
    assert seq.value("HISTORY", seqid(0), parent)[2] == b"a"  # type: ignore[index]


def test_seq_with_redis_py_and_redis_cli(zdb_shared):
    name = new_namespace(zdb_shared, ("mode", "seq"))
    client = plain(zdb_shared)
    assert client.execute_command("SELECT", name) == b"OK"
    assert client.execute_command("SET", "", "py") == seqid(0)
    assert client.execute_command("GET", seqid(0)) == b"py"
    script = (
        f'SELECT {name}\nSET "" cli\nGET "\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00"\nSET abc x\n'
    )
    assert cli(zdb_shared, stdin=script).splitlines() == [
        "OK",
        '"\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00"',
        '"cli"',
        f"(error) {ONLY_UPDATE}",
    ]


def test_mode_option_forces_sequential_everywhere(zdb_factory):
    server = zdb_factory("--mode", "seq")
    with Raw(server.port) as conn:
        assert nsinfo(conn, "default")["mode"] == "sequential"
        assert conn.call("SET", "", "in default") == bulk(seqid(0))
        assert conn.call("SET", "name", "x") == err(ONLY_UPDATE)
        conn.ok("NSNEW", "other")
        assert nsinfo(conn, "other")["mode"] == "sequential"
        single = "This server instance is configured to use a single runtime mode"
        assert conn.call("NSSET", "other", "mode", "user") == err(single)
        assert conn.call("NSSET", "other", "mode", "seq") == err(single)
        assert conn.call("NSSET", "default", "mode", "user") == err(single)
        conn.ok("SELECT", "other")
        assert conn.call("SET", "", "in other") == bulk(seqid(0))  # ids are per namespace
    server.restart()
    with Raw(server.port) as conn:
        assert conn.call("SET", "", "after restart") == bulk(seqid(1))  # ids keep counting
        assert conn.call("GET", seqid(0)) == bulk("in default")
        conn.ok("SELECT", "other")
        assert conn.call("SET", "", "x") == bulk(seqid(1))


def test_user_mode_option_refuses_mode_changes(zdb_factory):
    server = zdb_factory("--mode", "user")
    with Raw(server.port) as conn:
        conn.ok("NSNEW", "fresh")
        assert conn.call("NSSET", "fresh", "mode", "seq") == err(
            "This server instance is configured to use a single runtime mode"
        )
        assert conn.call("SET", "", "x") == err("Invalid argument, key needed")
