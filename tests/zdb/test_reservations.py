"""Reservations: RESERVE, AUTH SIGNED, size, expiry, release, owner transfer; all in the chain."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.zdb.rawsock import RawConn, encode
from zeroos.zdb.chain.leaf import Leaf
from zeroos.zdb.chain.signing import sign_auth

pytestmark = pytest.mark.both_engines

ADMIN = "admin-secret"


def _pub(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes_raw().hex()


def call(conn: RawConn, *args: bytes | str | int) -> object:
    conn.send(encode(*args))
    return conn.reply()


def _login_owner(conn: RawConn, key: Ed25519PrivateKey, ns: str) -> object:
    nonce = call(conn, "AUTH", "SIGNED", "CHALLENGE")
    assert isinstance(nonce, bytes)
    return call(conn, "AUTH", "SIGNED", ns, _pub(key), sign_auth(key, nonce.decode(), ns))


def _events(conn: RawConn) -> list[Leaf]:
    head = call(conn, "CHAIN", "HEAD")
    leaves = call(conn, "CHAIN", "LEAF", 0, head[1])  # type: ignore[index]
    return [Leaf.decode(raw) for raw in leaves]  # type: ignore[union-attr]


@pytest.fixture
def server(zdb_factory):
    return zdb_factory("--admin", ADMIN, "--grace", "2")


def test_reserve_and_owner_writes(server):
    owner = Ed25519PrivateKey.generate()
    with RawConn(server.port) as admin, RawConn(server.port) as conn, RawConn(server.port) as other:
        assert call(admin, "AUTH", ADMIN) == b"OK"
        expiry = int(time.time()) + 3600
        assert call(admin, "RESERVE", "res", 100, expiry, _pub(owner)) == b"OK"
        # nobody else can use it: private, no password
        assert str(call(other, "SELECT", "res")) == "Namespace protected and private"
        assert call(other, "SET", "x", "y") == b"x"  # lands in default, not in res
        # a wrong key or a replayed nonce gets nothing
        thief = Ed25519PrivateKey.generate()
        assert str(_login_owner(other, thief, "res")) == "Access denied"
        assert _login_owner(conn, owner, "res") == b"OK"
        assert call(conn, "EXISTS", "x") == 0
        assert call(conn, "SET", "k", "v" * 60) == b"k"
        assert str(call(conn, "SET", "k2", "v" * 60)) == "No space left on this namespace"
        assert call(conn, "NSSET", "res", "public", "1") == b"OK"  # owner rights
        assert str(call(conn, "NSSET", "res", "maxsize", "999")) == "Permission denied"
        info = call(conn, "NSINFO", "res").decode()  # type: ignore[union-attr]
        assert f"reservation_owner: {_pub(owner)}" in info
        assert f"reservation_expiry: {expiry}" in info
        assert "reservation_state: active" in info
        # size and expiry changes, owner transfer: admin (size, expiry), owner (owner)
        assert call(admin, "RESERVATION", "res", "size", 1000) == b"OK"
        assert call(conn, "SET", "k2", "v" * 60) == b"k2"
        assert str(call(conn, "RESERVATION", "res", "size", 10**9)) == "Permission denied"
        heir = Ed25519PrivateKey.generate()
        assert call(conn, "RESERVATION", "res", "owner", _pub(heir)) == b"OK"
        assert str(call(conn, "SET", "k3", "v")) == "Permission denied"  # not the owner now
        ops = [leaf.op_name for leaf in _events(conn)]
        assert ops[:2] == ["CREATE", "RESERVE"]
        assert "NSSET" in ops
        assert ops.count("RESERVATION") == 2
    with RawConn(server.port) as conn:
        assert str(_login_owner(conn, owner, "res")) == "Access denied"  # transferred
        assert _login_owner(conn, heir, "res") == b"OK"
        assert call(conn, "SET", "k3", "v") == b"k3"


def test_expiry_turns_read_only_then_releases(server):
    owner = Ed25519PrivateKey.generate()
    with RawConn(server.port) as admin, RawConn(server.port) as conn:
        assert call(admin, "AUTH", ADMIN) == b"OK"
        expiry = int(time.time()) + 2
        assert call(admin, "RESERVE", "short", 0, expiry, _pub(owner)) == b"OK"
        assert _login_owner(conn, owner, "short") == b"OK"
        assert call(conn, "SET", "k", "v") == b"k"
        # the expiry passes: wait for the server's state, not for the wall clock
        deadline = time.monotonic() + 30
        while b"reservation_state: active" in call(admin, "NSINFO", "short"):  # type: ignore[operator]
            assert time.monotonic() < deadline, "the reservation never expired"
            time.sleep(0.05)
        assert b"reservation_state: expired" in call(admin, "NSINFO", "short")  # type: ignore[operator]
        assert str(call(conn, "SET", "k2", "v")) == "Reservation expired (read-only)"
        assert call(conn, "GET", "k") == b"v"
        # the grace period (2 s here) ends: the server releases the data by itself
        deadline = time.monotonic() + 10
        while b"released" not in call(admin, "NSINFO", "short") and time.monotonic() < deadline:  # type: ignore[operator]
            time.sleep(0.2)
        assert b"reservation_state: released" in call(admin, "NSINFO", "short")  # type: ignore[operator]
        assert call(conn, "GET", "k") is None
        ops = [leaf.op_name for leaf in _events(conn)]
        assert ops[-3:] == ["EXPIRE", "FLUSH", "RELEASE"]  # the data goes first, then the record
        # renewing it makes it writable again
        assert call(admin, "RESERVATION", "short", "expiry", int(time.time()) + 3600) == b"OK"
        assert call(conn, "SET", "k", "again") == b"k"


def test_only_admin_reserves_and_reservations_survive_restart(server):
    owner = Ed25519PrivateKey.generate()
    with RawConn(server.port) as conn:
        assert str(call(conn, "RESERVE", "r", 10, 2**31, _pub(owner))) == "Permission denied"
        assert call(conn, "AUTH", ADMIN) == b"OK"
        assert str(call(conn, "RESERVE", "r", 10, 2**31, "nothex")).startswith("Invalid owner")
        assert call(conn, "RESERVE", "r", 10, 2**31, _pub(owner)) == b"OK"
        assert str(call(conn, "RESERVE", "r", 10, 2**31, _pub(owner))) == (
            "This namespace is not available"
        )
    server.restart()
    with RawConn(server.port) as conn:
        assert _login_owner(conn, owner, "r") == b"OK"
        assert call(conn, "SET", "k", "v") == b"k"
        assert b"reservation_state: active" in call(conn, "NSINFO", "r")  # type: ignore[operator]


def test_flush_is_refused_on_an_expired_reservation(zdb_factory):
    server = zdb_factory("--admin", ADMIN)  # the default grace: the data stays readable
    owner = Ed25519PrivateKey.generate()
    with RawConn(server.port) as admin, RawConn(server.port) as conn:
        assert call(admin, "AUTH", ADMIN) == b"OK"
        assert call(admin, "RESERVE", "res", 0, int(time.time()) + 3600, _pub(owner)) == b"OK"
        assert _login_owner(conn, owner, "res") == b"OK"
        assert call(conn, "SET", "k", "v") == b"k"
        assert call(conn, "NSSET", "res", "password", "pw") == b"OK"  # FLUSH needs one
        assert call(admin, "RESERVATION", "res", "expiry", int(time.time()) - 1) == b"OK"
        assert str(call(conn, "FLUSH")) == "Reservation expired (read-only)"
        with RawConn(server.port) as guest:
            assert call(guest, "SELECT", "res", "pw") == b"OK"
            assert str(call(guest, "FLUSH")) == "Reservation expired (read-only)"
        assert call(conn, "GET", "k") == b"v"
        assert call(conn, "DBSIZE") == 1
        assert b"reservation_state: expired" in call(admin, "NSINFO", "res")  # type: ignore[operator]


@pytest.mark.parametrize("prop", ["lock", "freeze"])
def test_owner_cannot_lift_the_admins_lock_or_freeze(server, prop):
    owner = Ed25519PrivateKey.generate()
    line = {
        "lock": "Namespace is temporarily locked (read-only)",
        "freeze": "Namespace is temporarily frozen (read-write disabled)",
    }[prop]
    with RawConn(server.port) as admin, RawConn(server.port) as conn:
        assert call(admin, "AUTH", ADMIN) == b"OK"
        assert call(admin, "RESERVE", "res", 0, int(time.time()) + 3600, _pub(owner)) == b"OK"
        assert _login_owner(conn, owner, "res") == b"OK"
        assert call(admin, "NSSET", "res", prop, "1") == b"OK"
        for attempt in ("lock", "freeze"):
            for value in ("0", "1"):
                reply = call(conn, "NSSET", "res", attempt, value)
                assert str(reply) == "Permission denied", (attempt, value)
        assert str(call(conn, "SET", "k", "v")) == line
        assert call(admin, "NSSET", "res", prop, "0") == b"OK"
        assert call(conn, "SET", "k", "v") == b"k"
        # a lock the owner set is the owner's to lift (and the admin's)
        assert call(conn, "NSSET", "res", prop, "1") == b"OK"
        assert str(call(conn, "SET", "k", "w")) == line
        assert call(conn, "NSSET", "res", "lock", "0") == b"OK"
        assert call(conn, "SET", "k", "w") == b"k"
        assert call(conn, "NSSET", "res", prop, "1") == b"OK"
        assert call(admin, "NSSET", "res", "lock", "0") == b"OK"
        assert call(conn, "SET", "k", "x") == b"k"


def test_signed_challenge_is_single_use_whatever_the_try(server):
    owner = Ed25519PrivateKey.generate()
    thief = Ed25519PrivateKey.generate()
    with RawConn(server.port) as admin, RawConn(server.port) as conn:
        assert call(admin, "AUTH", ADMIN) == b"OK"
        assert call(admin, "RESERVE", "res", 0, int(time.time()) + 3600, _pub(owner)) == b"OK"
        no_challenge = "No CHALLENGE requested, signed authentication not available"
        nonce = call(conn, "AUTH", "SIGNED", "CHALLENGE")
        assert isinstance(nonce, bytes)
        good = sign_auth(owner, nonce.decode(), "res")
        assert str(call(conn, "AUTH", "SIGNED", "res", _pub(owner))) == "Unexpected arguments"
        assert str(call(conn, "AUTH", "SIGNED", "res", _pub(owner), good)) == no_challenge
        nonce = call(conn, "AUTH", "SIGNED", "CHALLENGE")
        assert isinstance(nonce, bytes)
        bad = sign_auth(thief, nonce.decode(), "res")
        assert str(call(conn, "AUTH", "SIGNED", "res", _pub(thief), bad)) == "Access denied"
        good = sign_auth(owner, nonce.decode(), "res")
        assert str(call(conn, "AUTH", "SIGNED", "res", _pub(owner), good)) == no_challenge
        assert _login_owner(conn, owner, "res") == b"OK"
