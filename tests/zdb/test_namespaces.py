"""Namespaces: NSNEW, NSDEL, NSLIST, NSINFO, NSSET, FLUSH, and what their settings do."""

from __future__ import annotations

import pytest
import redis

from .test_commands import (
    NIL,
    OK,
    Raw,
    attach,
    bulk,
    cli,
    err,
    new_namespace,
    nsinfo,
    plain,
    sizes,
    unique,
)

pytestmark = pytest.mark.both_engines

FROZEN = "Namespace is temporarily frozen (read-write disabled)"
LOCKED = "Namespace is temporarily locked (read-only)"
NS_GONE = "Your active namespace is not available anymore (probably removed)."

# 0-db's NSINFO fields, in its order (reference doc section 4)
NSINFO_HEAD = [
    "name",
    "entries",
    "public",
    "worm",
    "locked",
    "password",
    "data_size_bytes",
    "data_size_mb",
    "data_limits_bytes",
    "index_size_bytes",
    "index_size_kb",
    "next_internal_id",
    "mode",
    "stats_index_io_errors",
    "stats_index_io_error_last",
    "stats_index_faults",
    "stats_data_io_errors",
    "stats_data_io_error_last",
    "stats_data_faults",
]
NSINFO_DISK = [
    "index_disk_freespace_bytes",
    "index_disk_freespace_mb",
    "data_disk_freespace_bytes",
    "data_disk_freespace_mb",
]


def nsinfo_fields(conn: Raw, name: str) -> list[str]:
    """NSINFO's field names in order, without our extras (disk size, recovery's cuts)."""
    text = conn.value("NSINFO", name)
    assert isinstance(text, bytes)
    lines = text.decode().split("\n")
    assert lines[0] == "# namespace", lines
    assert lines[-1] == "", lines  # the text ends with "\n"
    keys = []
    for line in lines[1:-1]:
        key, sep, _value = line.partition(": ")
        assert sep, line
        keys.append(key)
    ours = {"disk_size_bytes", "stats_data_cuts", "stats_data_cut_bytes"}
    return [k for k in keys if k not in ours]


# -- NSNEW, NSLIST, NSDEL ---------------------------------------------------------------------


def test_new_namespace_defaults(zdb_shared):
    name = unique()
    with Raw(zdb_shared.port) as conn:
        assert conn.call("NSNEW", name) == OK
        assert conn.call("NSNEW", name) == err("This namespace is not available")
        info = nsinfo(conn, name)
    assert info["name"] == name
    assert (info["public"], info["worm"], info["locked"], info["password"]) == (
        "yes",
        "no",
        "no",
        "no",
    )
    assert (info["entries"], info["data_size_bytes"], info["data_limits_bytes"]) == ("0", "0", "0")
    assert info["data_size_mb"] == "0.00"
    assert info["mode"] == "userkey"
    assert info["next_internal_id"] == "0x00000000"
    assert "space_available" not in info


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("default", "This name is not allowed"),
        (".", "This name is not allowed"),
        ("..", "This name is not allowed"),
        ("a/b", "This name is not allowed"),
        ("", "Invalid argument"),
        ("x" * 129, "Namespace too long"),
    ],
)
def test_nsnew_refuses(zdb_shared, name, line):
    with Raw(zdb_shared.port) as conn:
        assert conn.call("NSNEW", name) == err(line)
        names = conn.value("NSLIST")
    assert isinstance(names, list)
    assert names.count(b"default") == 1
    assert name.encode() not in names[1:]


def test_nsnew_argument_count_and_longest_name(zdb_shared):
    longest = unique()[:10] + "x" * 118
    with Raw(zdb_shared.port) as conn:
        assert conn.call("NSNEW") == err("Unexpected arguments")
        assert conn.call("NSNEW", "a", "b") == err("Unexpected arguments")
        assert conn.call("NSNEW", longest) == OK
        assert conn.call("SELECT", longest) == OK


def test_nslist_has_default_first(zdb):
    assert cli(zdb, "NSLIST") == '1) "default"'
    with Raw(zdb.port) as conn:
        assert conn.call("NSLIST") == b"*1\r\n" + bulk("default")
        for name in ("zz", "aa", "mm"):
            conn.ok("NSNEW", name)
        names = conn.value("NSLIST")
        assert isinstance(names, list)
        assert names[0] == b"default"
        assert sorted(names[1:]) == [b"aa", b"mm", b"zz"]
        conn.ok("NSDEL", "mm")
        assert sorted(conn.value("NSLIST")[1:]) == [b"aa", b"zz"]  # type: ignore[index]
    assert plain(zdb).execute_command("NSLIST")[0] == b"default"


def test_nsdel_errors_and_success(zdb_shared):
    name = new_namespace(zdb_shared)
    with attach(zdb_shared, name) as conn:
        conn.call("SET", "k", "v")
        assert conn.call("NSDEL", "default") == err("Cannot remove default namespace")
        assert conn.call("NSDEL", unique()) == err("This namespace doesn't exists")
        assert conn.call("NSDEL", "x" * 129) == err("Namespace too long")
        assert conn.call("NSDEL") == err("Unexpected arguments")
        assert conn.call("NSDEL", "") == err("Invalid argument")
        assert conn.call("NSDEL", name) == err("Cannot remove namespace you're currently using.")
        assert conn.call("GET", "k") == bulk("v")  # still there and still usable
        conn.ok("SELECT", "default")
        assert conn.call("NSDEL", name) == OK
        assert conn.call("SELECT", name) == err("Namespace not found")
        assert conn.call("NSINFO", name) == err("Namespace not found")
        assert name.encode() not in conn.value("NSLIST")  # type: ignore[operator]
        # the name can be used again, and starts empty
        conn.ok("NSNEW", name)
        conn.ok("SELECT", name)
        assert conn.call("GET", "k") == NIL
        assert conn.call("DBSIZE") == b":0\r\n"


def test_deleted_namespace_disconnects_its_other_clients(zdb_shared):
    name = new_namespace(zdb_shared)
    user = attach(zdb_shared, name)
    idle = attach(zdb_shared, name)
    elsewhere = Raw(zdb_shared.port)
    client = plain(zdb_shared)
    assert client.execute_command("SELECT", name) == b"OK"
    assert user.call("SET", "k", "v") == bulk("k")
    with Raw(zdb_shared.port) as admin:
        assert admin.call("NSDEL", name) == OK
    assert user.call("GET", "k") == err(NS_GONE)
    assert user.closed_by_server()
    assert idle.call("PING") == err(NS_GONE)  # any command, even PING
    assert idle.closed_by_server()
    with pytest.raises(redis.ResponseError, match=r"^Your active namespace is not available"):
        client.execute_command("DBSIZE")
    assert elsewhere.call("PING") == b"+PONG\r\n"  # clients on other namespaces are untouched
    for conn in (user, idle, elsewhere):
        conn.close()
    client.close()


# -- NSINFO -----------------------------------------------------------------------------------


@pytest.mark.embedded_only  # files on disk
def test_nsinfo_field_order_matches_0db(zdb_factory):
    server = zdb_factory("--admin", "secret")
    with Raw(server.port) as admin, Raw(server.port) as user:
        admin.ok("AUTH", "secret")
        admin.ok("NSNEW", "plain")
        admin.ok("NSNEW", "limited")
        admin.ok("NSSET", "limited", "maxsize", "1000")
        # admins also see the paths; everyone may call NSINFO
        # ours after 0-db's: the chain's size (reservations add theirs before it)
        assert nsinfo_fields(admin, "plain") == [
            *NSINFO_HEAD,
            *NSINFO_DISK,
            "data_path",
            "index_path",
            "chain_size",
        ]
        assert nsinfo_fields(user, "plain") == [*NSINFO_HEAD, *NSINFO_DISK, "chain_size"]
        assert nsinfo_fields(user, "limited") == [
            *NSINFO_HEAD,
            "space_available",
            *NSINFO_DISK,
            "chain_size",
        ]
        info = nsinfo(admin, "plain")
        assert info["data_path"] == str(server.datadir / "plain")
        assert info["index_path"] == str(server.indexdir / "plain")
        assert int(info["data_disk_freespace_bytes"]) > 0
        for key in NSINFO_HEAD[13:]:
            assert info[key] == "0"
    assert "data_path" not in cli(server, "NSINFO", "plain")


def test_nsinfo_reflects_the_data(ns_conn):
    conn, name = ns_conn
    conn.call("SET", "a", "x" * 1000)
    conn.call("SET", "b", "y" * 48576)
    conn.call("SET", "gone", "z")
    conn.ok("DEL", "gone")
    info = nsinfo(conn, name)
    assert info["entries"] == "2"
    assert info["data_size_bytes"] == "49576"
    assert info["data_size_mb"] == "0.05"
    index_size = int(info["index_size_bytes"])
    assert index_size > 0
    assert info["index_size_kb"] == f"{index_size / 1024:.2f}"
    assert int(info["disk_size_bytes"]) >= 49577


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("NSINFO",), "Unexpected arguments"),
        (("NSINFO", "a", "b"), "Unexpected arguments"),
        (("NSINFO", ""), "Invalid argument"),
        (("NSINFO", "x" * 129), "Namespace too long"),
        (("NSINFO", "no-such-namespace"), "Namespace not found"),
        (("NSINFO", "DEFAULT"), "Namespace not found"),  # names are case-sensitive
    ],
)
def test_nsinfo_errors(zdb_shared, args, line):
    with Raw(zdb_shared.port) as conn:
        assert conn.call(*args) == err(line)


# -- NSSET ------------------------------------------------------------------------------------


@pytest.fixture
def ns_conn(zdb_shared):
    """A fresh namespace of the shared server and a raw connection on it."""
    name = new_namespace(zdb_shared)
    conn = attach(zdb_shared, name)
    yield conn, name
    conn.close()


@pytest.mark.parametrize(
    ("prop", "before", "value", "field", "shown"),
    [
        ("maxsize", None, "4096", "data_limits_bytes", "4096"),
        ("maxsize", "4096", "0", "data_limits_bytes", "0"),
        ("password", None, "pass", "password", "yes"),
        ("password", "pass", "*", "password", "no"),
        ("public", None, "0", "public", "no"),
        ("public", "0", "1", "public", "yes"),
        ("public", "1", "yes", "public", "no"),  # only a leading "1" means on
        ("worm", None, "1", "worm", "yes"),
        ("worm", "1", "0", "worm", "no"),
        ("worm", "1", "true", "worm", "no"),
        ("mode", None, "seq", "mode", "sequential"),
        ("mode", "seq", "user", "mode", "userkey"),
        ("lock", None, "1", "locked", "yes"),
        ("freeze", None, "1", "locked", "yes"),
        ("lock", "1", "0", "locked", "no"),
        ("freeze", "1", "anything", "locked", "no"),
    ],
)
def test_nsset_properties_show_in_nsinfo(zdb_shared, prop, before, value, field, shown):
    name = new_namespace(zdb_shared)
    with Raw(zdb_shared.port) as conn:
        if before is not None:
            conn.ok("NSSET", name, prop, before)
            assert nsinfo(conn, name)[field] != shown
        assert conn.call("NSSET", name, prop, value) == OK
        assert nsinfo(conn, name)[field] == shown


def test_nsset_password_clear_opens_the_namespace(ns_conn, zdb_shared):
    conn, name = ns_conn
    conn.ok("NSSET", name, "password", "pass")
    conn.ok("NSSET", name, "public", "0")
    with Raw(zdb_shared.port) as other:
        assert other.call("SELECT", name) == err("Namespace protected and private")
        conn.ok("NSSET", name, "password", "*")
        assert other.call("SELECT", name) == OK
        assert other.call("SET", "k", "v") == bulk("k")  # writable without a password


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("default", "maxsize", "10"), "Cannot update default namespace"),
        (("default", "password", "x"), "Cannot update default namespace"),
        (("default", "public", "0"), "Cannot update default namespace"),
        (("default", "worm", "1"), "Cannot update default namespace"),
        (("default", "bogus", "1"), "Cannot update default namespace"),
        (("{ns}", "bogus", "1"), "Invalid property"),
        (("{ns}", "MAXSIZE", "1"), "Invalid property"),  # property names are case-sensitive
        (("{ns}", "mode", "sequential"), "Invalid property value (expected: user, seq)"),
        (("{ns}", "password", "p" * 64), "Argument too long"),
        (("{ns}", "maxsize", "lots"), "Invalid property value (expected: a size in bytes)"),
        (("no-such-namespace", "worm", "1"), "Namespace not found"),
        (("x" * 129, "worm", "1"), "Namespace too long"),
        (("{ns}", "worm"), "Unexpected arguments"),
        (("{ns}", "worm", "1", "2"), "Unexpected arguments"),
        (("{ns}", "worm", ""), "Invalid argument"),
    ],
)
def test_nsset_errors(ns_conn, args, line):
    conn, name = ns_conn
    args = tuple(name if a == "{ns}" else a for a in args)
    assert conn.call("NSSET", *args) == err(line)
    info = nsinfo(conn, name)
    assert (info["worm"], info["password"], info["data_limits_bytes"]) == ("no", "no", "0")
    assert nsinfo(conn, "default")["data_limits_bytes"] == "0"


def test_nsset_longest_password_and_case_sensitive_select(ns_conn, zdb_shared):
    conn, name = ns_conn
    conn.ok("NSSET", name, "password", "P" * 63)
    with Raw(zdb_shared.port) as other:
        assert other.call("SELECT", name, "p" * 63) == err("Access denied")
        assert other.call("SELECT", name, "P" * 63) == OK


def test_nsset_mode_refused_once_the_namespace_was_used(ns_conn):
    conn, name = ns_conn
    conn.call("SET", "k", "v")
    assert conn.call("NSSET", name, "mode", "seq") == err("Cannot change mode of used namespace")
    conn.ok("DEL", "k")  # still used: it has a (deleted) entry
    assert nsinfo(conn, name)["entries"] == "0"
    assert conn.call("NSSET", name, "mode", "seq") == err("Cannot change mode of used namespace")
    assert nsinfo(conn, name)["mode"] == "userkey"


def test_mode_lock_and_freeze_are_allowed_on_default(zdb):
    with Raw(zdb.port) as conn, Raw(zdb.port) as other:
        conn.ok("NSSET", "default", "mode", "seq")
        assert nsinfo(conn, "default")["mode"] == "sequential"
        assert other.call("SET", "", "first") == bulk(b"\x00" * 8)
        conn.ok("NSSET", "default", "lock", "1")
        assert other.call("SET", "", "x") == err(LOCKED)
        conn.ok("NSSET", "default", "freeze", "1")
        assert other.call("GET", b"\x00" * 8) == err(FROZEN)
        conn.ok("NSSET", "default", "freeze", "0")
        assert other.call("GET", b"\x00" * 8) == bulk("first")
        assert conn.call("NSSET", "default", "mode", "user") == err(
            "Cannot change mode of used namespace"
        )


# -- lock, freeze, worm, maxsize --------------------------------------------------------------


def test_lock_allows_reads_and_refuses_writes(ns_conn, zdb_shared):
    conn, name = ns_conn
    conn.call("SET", "k", "v")
    with Raw(zdb_shared.port) as admin:
        admin.ok("NSSET", name, "lock", "1")
        assert conn.call("SET", "k", "w") == err(LOCKED)
        assert conn.call("SET", "new", "w") == err(LOCKED)
        assert conn.call("DEL", "k") == err(LOCKED)
        assert conn.call("GET", "k") == bulk("v")
        assert conn.call("EXISTS", "new") == b":0\r\n"
        scan = conn.value("SCAN")
        assert isinstance(scan, list), scan  # an error line would be a ReplyError
        assert [item[:2] for item in scan[1]] == [[b"k", 1]]
        admin.ok("NSSET", name, "freeze", "0")  # lock and freeze share one state
        assert conn.call("SET", "k", "w") == bulk("k")


READS_AND_WRITES = [
    ("GET", "k"),
    ("MGET", "k"),
    ("EXISTS", "k"),
    ("CHECK", "k"),
    ("LENGTH", "k"),
    ("KEYTIME", "k"),
    ("KEYCUR", "k"),
    ("SCAN",),
    ("RSCAN",),
    ("HISTORY", "k"),
    ("SET", "k", "w"),
    ("SET", "new", "w"),
    ("DEL", "k"),
]


def test_freeze_refuses_reads_and_writes(ns_conn, zdb_shared):
    conn, name = ns_conn
    conn.call("SET", "k", "v")
    with Raw(zdb_shared.port) as admin:
        admin.ok("NSSET", name, "freeze", "1")
        for command in READS_AND_WRITES:
            assert conn.call(*command) == err(FROZEN), command
        assert conn.call("DBSIZE") == b":1\r\n"  # 0-db does not check freeze here
        assert nsinfo(conn, name)["locked"] == "yes"
        admin.ok("NSSET", name, "lock", "0")  # clears the freeze too
    for command in READS_AND_WRITES:
        assert not conn.call(*command).startswith(b"-"), command
    assert conn.call("GET", "new") == bulk("w")


def test_worm_allows_new_keys_only(ns_conn):
    conn, name = ns_conn
    conn.call("SET", "k", "v")
    conn.ok("NSSET", name, "worm", "1")
    assert conn.call("SET", "k", "changed") == err("Namespace is protected by worm mode")
    assert conn.call("DEL", "k") == err("Cannot delete a key when namespace is in worm mode")
    assert conn.call("DEL", "missing") == err("Key not found")
    assert conn.call("SET", "new", "v") == bulk("new")
    assert conn.call("GET", "k") == bulk("v")
    assert conn.call("DBSIZE") == b":2\r\n"
    conn.ok("NSSET", name, "worm", "0")
    assert conn.call("DEL", "k") == OK


def test_maxsize_reserves_payload_bytes(ns_conn):
    conn, name = ns_conn
    conn.ok("NSSET", name, "maxsize", "10")
    assert conn.call("SET", "a", "123456") == bulk("a")
    assert nsinfo(conn, name)["space_available"] == "4"
    before = sizes(conn)
    assert conn.call("SET", "b", "12345") == err("No space left on this namespace")
    assert conn.call("EXISTS", "b") == b":0\r\n"
    assert sizes(conn) == before  # nothing was written
    assert conn.call("SET", "b", "1234") == bulk("b")  # exactly full
    assert nsinfo(conn, name)["space_available"] == "0"
    assert conn.call("SET", "c", "") == bulk("c")  # an empty value takes no room
    assert conn.call("SET", "b", "12345") == err("No space left on this namespace")
    # an overwrite may reuse the size of the value it replaces
    assert conn.call("SET", "a", "abcdef") == bulk("a")
    assert conn.call("SET", "a", "abcdefg") == err("No space left on this namespace")
    assert conn.call("SET", "b", "wxyz") == bulk("b")
    assert conn.call("GET", "a") == bulk("abcdef")
    conn.ok("DEL", "a")  # a delete gives the room back
    assert nsinfo(conn, name)["space_available"] == "6"
    assert conn.call("SET", "d", "123456") == bulk("d")


def test_maxsize_option_limits_default(zdb_factory):
    server = zdb_factory("--maxsize", "1M")
    with Raw(server.port) as conn:
        info = nsinfo(conn, "default")
        assert info["data_limits_bytes"] == "1048576"
        assert info["space_available"] == "1048576"
        assert conn.call("SET", "big", b"x" * (1048576 + 1)) == err(
            "No space left on this namespace"
        )
        assert conn.call("SET", "big", b"x" * 1048576) == bulk("big")
        assert conn.call("SET", "one", "1") == err("No space left on this namespace")
        assert conn.call("DBSIZE") == b":1\r\n"
    client = plain(server)
    with pytest.raises(redis.ResponseError, match=r"^No space left on this namespace$"):
        client.execute_command("SET", "more", "x")
    assert cli(server, "SET", "more", "x") == "(error) No space left on this namespace"


# -- FLUSH ------------------------------------------------------------------------------------


def test_flush_is_denied_on_public_or_open_namespaces(ns_conn, zdb_shared):
    conn, name = ns_conn
    conn.call("SET", "k", "v")
    assert conn.call("FLUSH") == err("Flushing public namespace denied")  # no password
    conn.ok("NSSET", name, "public", "0")
    assert conn.call("FLUSH") == err("Flushing public namespace denied")  # still no password
    conn.ok("NSSET", name, "public", "1")
    conn.ok("NSSET", name, "password", "pw")
    with attach(zdb_shared, name, "pw") as writer:
        assert writer.call("FLUSH") == err("Flushing public namespace denied")  # public
    with Raw(zdb_shared.port) as other:
        assert other.call("FLUSH") == err("Flushing public namespace denied")  # default
    assert conn.call("GET", "k") == bulk("v")


def test_flush_empties_a_private_namespace(ns_conn, zdb_shared):
    conn, name = ns_conn
    for i in range(20):
        conn.call("SET", f"k{i}", f"v{i}")
    conn.call("SET", "k0", "again")
    conn.ok("NSSET", name, "password", "pw")
    conn.ok("NSSET", name, "public", "0")
    with attach(zdb_shared, name, "pw") as owner:
        assert owner.call("FLUSH") == OK
        assert owner.call("DBSIZE") == b":0\r\n"
        assert owner.call("GET", "k1") == NIL
        assert owner.call("HISTORY", "k0") == err("Key not found")
        assert owner.call("SCAN") == err("No more data")
        assert sizes(owner)["data_size_bytes"] == 0
        assert owner.call("SET", "fresh", "v") == bulk("fresh")
        assert owner.call("SCAN")[:4] == b"*2\r\n"
    assert cli(zdb_shared, stdin=f"SELECT {name} pw\nFLUSH\nDBSIZE\n").splitlines() == [
        "OK",
        "OK",
        "(integer) 0",
    ]


@pytest.mark.parametrize(
    ("prop", "value", "line"),
    [
        ("worm", "1", "Namespace is protected by worm mode"),
        ("lock", "1", LOCKED),
        ("freeze", "1", FROZEN),
    ],
)
def test_flush_is_refused_where_other_writes_are(ns_conn, zdb_shared, prop, value, line):
    conn, name = ns_conn
    conn.call("SET", "k", "v")
    conn.ok("NSSET", name, "password", "pw")
    conn.ok("NSSET", name, "public", "0")
    with attach(zdb_shared, name, "pw") as writer:
        conn.ok("NSSET", name, prop, value)
        assert writer.call("FLUSH") == err(line)
        assert conn.call("NSSET", name, "lock", "0") == OK  # lifts lock and freeze
        conn.ok("NSSET", name, "worm", "0")
        assert writer.call("GET", "k") == bulk("v")  # nothing was flushed
        assert writer.call("DBSIZE") == b":1\r\n"
        assert writer.call("FLUSH") == OK  # and it works again once the state is lifted
        assert writer.call("DBSIZE") == b":0\r\n"


# -- restart ----------------------------------------------------------------------------------


def test_restart_keeps_data_and_settings_but_not_lock_or_freeze(zdb_factory):
    server = zdb_factory()
    with Raw(server.port) as conn:
        for name in ("secret", "sealed", "seqns", "locked", "frozen"):
            conn.ok("NSNEW", name)
        conn.ok("NSSET", "secret", "password", "pw")
        conn.ok("NSSET", "secret", "public", "0")
        conn.ok("NSSET", "secret", "maxsize", "1000")
        conn.ok("NSSET", "sealed", "worm", "1")
        conn.ok("NSSET", "seqns", "mode", "seq")
        conn.ok("SELECT", "secret", "pw")
        assert conn.call("SET", "k", "v" * 100) == bulk("k")
        conn.ok("SELECT", "seqns")
        assert conn.call("SET", "", "first") == bulk(b"\x00" * 8)
        conn.ok("SELECT", "sealed")
        assert conn.call("SET", "w", "once") == bulk("w")
        conn.ok("SELECT", "default")
        assert conn.call("SET", "d", "default value") == bulk("d")
        conn.ok("NSSET", "locked", "lock", "1")
        conn.ok("NSSET", "frozen", "freeze", "1")
        before = {name: nsinfo(conn, name) for name in ("secret", "sealed", "seqns")}
    server.restart()
    with Raw(server.port) as conn:
        names = conn.value("NSLIST")
        assert isinstance(names, list)
        assert names[0] == b"default"
        assert sorted(names[1:]) == [b"frozen", b"locked", b"sealed", b"secret", b"seqns"]
        for name, old in before.items():
            new = nsinfo(conn, name)
            for field in ("entries", "public", "worm", "password", "mode", "data_size_bytes"):
                assert new[field] == old[field], (name, field)
            assert new["data_limits_bytes"] == old["data_limits_bytes"]
        secret = nsinfo(conn, "secret")
        assert (secret["password"], secret["public"], secret["data_limits_bytes"]) == (
            "yes",
            "no",
            "1000",
        )
        assert secret["space_available"] == "900"
        assert nsinfo(conn, "sealed")["worm"] == "yes"
        assert nsinfo(conn, "seqns")["mode"] == "sequential"
        assert nsinfo(conn, "locked")["locked"] == "no"
        assert nsinfo(conn, "frozen")["locked"] == "no"
        assert conn.call("GET", "d") == bulk("default value")
        assert conn.call("SELECT", "secret") == err("Namespace protected and private")
        assert conn.call("SELECT", "secret", "wrong") == err("Access denied")
        conn.ok("SELECT", "secret", "pw")
        assert conn.call("GET", "k") == bulk("v" * 100)
        assert conn.call("SET", "more", "x" * 901) == err("No space left on this namespace")
        conn.ok("SELECT", "sealed")
        assert conn.call("SET", "w", "twice") == err("Namespace is protected by worm mode")
        conn.ok("SELECT", "seqns")
        assert conn.call("SET", "", "second") == bulk(b"\x01" + b"\x00" * 7)
        for name in ("locked", "frozen"):
            conn.ok("SELECT", name)
            assert conn.call("SET", "k", "v") == bulk("k")
