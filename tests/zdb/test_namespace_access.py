"""NSSET lock and freeze belong to the commands layer: one state per namespace object, shared by
its sessions, carried over a RELOAD, gone with NSDEL (a namespace made again starts open)."""

from __future__ import annotations

import pytest

from .test_commands import Raw, bulk, err, nsinfo

pytestmark = pytest.mark.both_engines

ADMIN = "the-admin-secret"
LOCKED = err("Namespace is temporarily locked (read-only)")
FROZEN = err("Namespace is temporarily frozen (read-write disabled)")


@pytest.fixture
def admin_server(zdb_factory: object) -> object:
    return zdb_factory("--admin", ADMIN)  # type: ignore[operator]


def test_a_lock_is_shared_by_every_session_of_the_namespace(admin_server):
    with Raw(admin_server.port) as admin, Raw(admin_server.port) as a, Raw(admin_server.port) as b:
        admin.ok("AUTH", ADMIN)
        admin.ok("NSNEW", "shared")
        admin.ok("NSNEW", "beside")
        a.ok("SELECT", "shared")
        b.ok("SELECT", "beside")
        admin.ok("NSSET", "shared", "freeze", "1")
        assert a.call("GET", "k") == FROZEN
        assert b.call("SET", "k", "v") == bulk("k")  # another namespace: its own state
        b.ok("SELECT", "shared")  # a session that comes in later shares it too
        assert b.call("GET", "k") == FROZEN
        assert b.call("SET", "k", "v") == FROZEN
        admin.ok("NSSET", "shared", "lock", "1")
        assert b.call("SET", "k", "v") == LOCKED
        assert b.call("GET", "k") == b"$-1\r\n"  # a lock allows reading
        assert nsinfo(admin, "shared")["locked"] == "yes"
        assert nsinfo(admin, "beside")["locked"] == "no"


def test_nsdel_forgets_the_lock_and_reload_keeps_it(admin_server):
    with Raw(admin_server.port) as admin, Raw(admin_server.port) as user:
        admin.ok("AUTH", ADMIN)
        admin.ok("NSNEW", "again")
        user.ok("SELECT", "again")
        admin.ok("NSSET", "again", "lock", "1")
        admin.ok("RELOAD", "again")
        assert user.call("SET", "k", "v") == LOCKED
        assert nsinfo(admin, "again")["locked"] == "yes"
        admin.ok("SELECT", "default")
        user.ok("SELECT", "default")
        admin.ok("NSDEL", "again")
        admin.ok("NSNEW", "again")
        assert nsinfo(admin, "again")["locked"] == "no"
        user.ok("SELECT", "again")
        assert user.call("SET", "k", "v") == bulk("k")
