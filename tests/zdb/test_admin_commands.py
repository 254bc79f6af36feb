"""0-db's KSCAN, RELOAD, MIRROR and STOP: replies, permission errors, and what they do."""

from __future__ import annotations

import json
import time

import pytest

from .test_commands import NIL, OK, Raw, attach, bulk, cli, err, new_namespace, nsinfo, parse

pytestmark = pytest.mark.both_engines

ADMIN = "the-admin-secret"
DENIED = err("Permission denied")


@pytest.fixture
def admin_server(zdb_factory: object) -> object:
    return zdb_factory("--admin", ADMIN)  # type: ignore[operator]


# -- KSCAN ------------------------------------------------------------------------------------


def test_kscan_lists_the_live_keys_with_a_prefix(zdb_shared):
    name = new_namespace(zdb_shared)
    with attach(zdb_shared, name) as conn:
        for key in ("user:2", "user:1", "user:10", "users", "other", "us"):
            assert conn.call("SET", key, "v") == bulk(key)
        conn.ok("DEL", "user:10")
        # 0-db's shape: *2, a cursor that is always "0" (one reply holds every match), the keys
        assert conn.call("KSCAN", "user:") == b"*2\r\n$1\r\n0\r\n*2\r\n" + bulk("user:1") + bulk(
            "user:2"
        )
        assert parse(conn.call("KSCAN", "us")) == [b"0", [b"us", b"user:1", b"user:2", b"users"]]
        assert parse(conn.call("KSCAN", "other")) == [b"0", [b"other"]]
        assert conn.call("KSCAN", "user:10") == err("No keys match")
        assert conn.call("KSCAN", "nothing") == err("No keys match")
        assert conn.call("KSCAN") == err("Unexpected arguments")
        assert conn.call("KSCAN", "a", "b") == err("Unexpected arguments")
        assert conn.call("KSCAN", "") == err("Invalid argument")
        assert conn.call("kscan", "other") == conn.call("KSCAN", "other")
    assert cli(zdb_shared, "KSCAN", "no-such-prefix") == "(error) No keys match"


def test_kscan_refuses_seq_mode_and_frozen_namespaces(zdb_shared):
    seq = new_namespace(zdb_shared, ("mode", "seq"))
    with attach(zdb_shared, seq) as conn:
        assert conn.call("KSCAN", "a") == err("Index running mode doesn't support this feature")
    name = new_namespace(zdb_shared)
    with attach(zdb_shared, name) as conn:
        conn.call("SET", "k", "v")
        conn.ok("NSSET", name, "lock", "1")
        assert parse(conn.call("KSCAN", "k")) == [b"0", [b"k"]]  # a read: a lock allows it
        conn.ok("NSSET", name, "freeze", "1")
        assert conn.call("KSCAN", "k") == err(
            "Namespace is temporarily frozen (read-write disabled)"
        )
        conn.ok("NSSET", name, "freeze", "0")


# -- RELOAD -----------------------------------------------------------------------------------


def test_reload_reopens_a_namespace_and_its_clients_stay(admin_server):
    with Raw(admin_server.port) as admin, Raw(admin_server.port) as user:
        assert admin.call("RELOAD", "default") == DENIED
        admin.ok("AUTH", ADMIN)
        admin.ok("NSNEW", "books")
        user.ok("SELECT", "books")
        assert user.call("SET", "k", "v") == bulk("k")
        admin.ok("NSSET", "books", "lock", "1")
        before = nsinfo(admin, "books")
        assert user.call("RELOAD", "books") == DENIED
        assert admin.call("RELOAD", "books") == OK
        # the user is still in the namespace, sees its data, and the runtime lock held
        assert user.call("GET", "k") == bulk("v")
        assert user.call("SET", "k2", "v") == err("Namespace is temporarily locked (read-only)")
        admin.ok("NSSET", "books", "lock", "0")
        assert user.call("SET", "k2", "w") == bulk("k2")
        assert user.call("DBSIZE") == b":2\r\n"
        after = nsinfo(admin, "books")
        for field in ("public", "password", "mode", "data_limits_bytes"):
            assert after[field] == before[field], field
        assert admin.call("RELOAD", "default") == OK
        assert admin.call("RELOAD", "nope") == err("Namespace not found")
        assert admin.call("RELOAD", "x" * 129) == err("Namespace too long")
        assert admin.call("RELOAD") == err("Unexpected arguments")
    assert cli(admin_server, "RELOAD", "books") == "(error) Permission denied"


@pytest.mark.embedded_only
def test_reload_reads_what_changed_on_disk(zdb_factory):
    server = zdb_factory()
    with Raw(server.port) as conn:
        conn.ok("NSNEW", "edited")
        settings = server.indexdir / "edited" / "zdb-namespace.json"
        data = json.loads(settings.read_text())
        data["maxsize"] = 4
        settings.write_text(json.dumps(data))
        assert nsinfo(conn, "edited")["data_limits_bytes"] == "0"  # not read yet
        conn.ok("RELOAD", "edited")
        assert nsinfo(conn, "edited")["data_limits_bytes"] == "4"
        conn.ok("SELECT", "edited")
        assert conn.call("SET", "k", "12345") == err("No space left on this namespace")


# -- MIRROR -----------------------------------------------------------------------------------


def _mirrored(mirror: Raw) -> list[object]:
    frame = parse(mirror.read())
    assert isinstance(frame, list), frame
    return frame


def test_mirror_receives_every_write_of_the_others(admin_server):
    with Raw(admin_server.port) as mirror, Raw(admin_server.port) as writer:
        assert mirror.call("MIRROR") == DENIED
        mirror.ok("AUTH", ADMIN)
        assert mirror.call("MIRROR") == b"+Starting mirroring\r\n"
        instance = next(
            line.split(": ")[1]
            for line in parse(mirror.call("INFO")).decode().splitlines()  # type: ignore[union-attr]
            if line.startswith("instance_id: ")
        )
        start = int(time.time())
        assert writer.call("SET", "k", "v") == bulk("k")
        assert writer.call("GET", "k") == bulk("v")  # reads are not mirrored
        assert writer.call("SET", "k", "v") == NIL  # nothing written: not mirrored
        assert writer.call("DEL", "missing") == err("Key not found")  # failed: not mirrored
        writer.ok("DEL", "k")
        writer.ok("AUTH", ADMIN)
        writer.ok("NSNEW", "second")
        writer.ok("SELECT", "second")
        assert writer.call("set", "x", "y") == bulk("x")
        frames = [_mirrored(mirror) for _ in range(4)]
        for frame in frames:
            assert start <= frame[0] <= int(time.time())  # type: ignore[operator]
            assert frame[2] == int(instance)
        assert [f[1] for f in frames] == [b"default", b"default", b"default", b"second"]
        assert [f[3:] for f in frames] == [
            [b"SET", b"k", b"v"],
            [b"DEL", b"k"],
            [b"NSNEW", b"second"],
            [b"SET", b"x", b"y"],
        ]
        # the mirror's own writes are not sent back to it
        assert mirror.call("SET", "own", "v") == bulk("own")
        assert mirror.call("PING") == b"+PONG\r\n"
    # a closed mirror is forgotten: writes go on
    with Raw(admin_server.port) as writer:
        assert writer.call("SET", "after", "v") == bulk("after")


# -- STOP -------------------------------------------------------------------------------------


def test_stop_is_admin_only_and_stops_the_server(admin_server):
    with Raw(admin_server.port) as conn:
        assert conn.call("STOP") == DENIED
        assert conn.call("PING") == b"+PONG\r\n"  # still serving
        assert conn.call("SET", "kept", "v") == bulk("kept")
        conn.ok("AUTH", ADMIN)
        assert conn.call("STOP") == b"+Stopping\r\n"
        assert conn.closed_by_server()
    proc = admin_server.proc
    assert proc is not None
    assert proc.wait(timeout=30) == 0  # it stopped by itself, cleanly
    assert admin_server.stop() == 0
    assert "event=stopping" in admin_server.log.read_text()
    admin_server.start()  # what was written before is there
    with Raw(admin_server.port) as conn:
        assert conn.call("GET", "kept") == bulk("v")


@pytest.mark.embedded_only  # engine-independent, and 70 MB is enough to write once
def test_a_mirror_that_does_not_read_is_dropped_not_buffered(zdb_factory):
    server = zdb_factory()
    big = b"x" * 8_000_000
    with Raw(server.port) as mirror, Raw(server.port) as writer:
        assert mirror.call("MIRROR") == b"+Starting mirroring\r\n"
        # the mirror reads nothing more: past 64 MiB of frames the server lets it go
        for i in range(10):
            assert writer.call("SET", f"big{i}", big) == bulk(f"big{i}")
        deadline = time.monotonic() + 30
        while "event=mirror_dropped" not in server.log.read_text():
            assert time.monotonic() < deadline, "the mirror was never dropped"
            time.sleep(0.1)
        assert writer.call("SET", "after", "v") == bulk("after")  # nobody else noticed
        assert writer.call("DBSIZE") == b":11\r\n"
