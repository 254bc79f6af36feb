"""The sync zero-db client against real servers: every method, errors, reconnects, timeouts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from zeroos.zdb import (
    ChecksumError,
    Client,
    KeyNotFound,
    NamespaceInfo,
    NamespaceNotFound,
    NoMoreData,
    NoSpaceLeft,
    PermissionDenied,
    ReadOnly,
    ZdbError,
    ZdbResponseError,
    ZdbTimeoutError,
)
from zeroos.zdb.client.sync import (
    Login,
    encode_key,
    parse_fields,
    secure_proof,
    select_steps,
)
from zeroos.zdb.errors import error_from_reply

pytestmark = pytest.mark.both_engines

ADMIN = "secret"


# -- helpers --------------------------------------------------------------------------------
@pytest.fixture
def client(zdb) -> Iterator[Client]:
    """A client of a fresh server without admin password, in the default namespace."""
    with Client(port=zdb.port) as c:
        yield c


# -- server commands ------------------------------------------------------------------------
# -- keys -----------------------------------------------------------------------------------
def test_key_encoding():
    assert encode_key(1) == b"\x01" + bytes(7)
    assert encode_key("é") == "é".encode()
    with pytest.raises(ValueError, match="does not fit"):
        encode_key(-1)
    with pytest.raises(TypeError):
        encode_key(True)
    with pytest.raises(TypeError):
        encode_key(1.5)  # type: ignore[arg-type]


# -- walking --------------------------------------------------------------------------------
# -- sequential mode ------------------------------------------------------------------------
# -- namespaces -----------------------------------------------------------------------------
def test_select_steps():
    """A fresh connection is already in default; a used one is always told where to go."""
    assert list(select_steps(Login("default"), secure=False, fresh=True)) == []
    assert list(select_steps(Login("default"), secure=False)) == [(b"SELECT", b"default")]
    assert list(select_steps(Login("ns", "pw"), secure=False, fresh=True)) == [
        (b"SELECT", b"ns", b"pw")
    ]
    steps = select_steps(Login("ns", "pw"), secure=True)
    assert next(steps) == (b"AUTH", b"SECURE", b"CHALLENGE")
    assert steps.send(b"708f109fbef4d656") == (
        b"SELECT",
        b"ns",
        b"SECURE",
        secure_proof("708f109fbef4d656", "pw"),
    )


def test_select_moves_every_pooled_connection(client, zdb):
    """WAIT only fires for a command of another connection in the same namespace."""
    client.nsnew("shared")

    def wait_and_poke() -> str | None:
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(client.wait, "SET", 5000)
            deadline = time.monotonic() + 5
            i = 0
            while not waiting.done() and time.monotonic() < deadline:
                client.set("poke", str(i))  # on another pooled connection
                i += 1
                time.sleep(0.02)
            return waiting.result()

    assert wait_and_poke() == "SET"  # the pool now holds two connections, both in default
    client.select("shared")
    assert wait_and_poke() == "SET"
    with Client(port=zdb.port, namespace="shared") as check:
        assert check.get("poke") is not None


def test_threads_share_the_pool(client):
    def work(n: int) -> bytes | None:
        client.set(f"t{n}", str(n))
        return client.get(f"t{n}")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(200)))
    assert results == [str(n).encode() for n in range(200)]


def test_wait_returns_the_command_or_none_on_timeout(client, zdb):
    started = time.monotonic()
    assert client.wait("SET", 200) is None
    assert time.monotonic() - started < 3
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(client.wait, "*", 5000)
        with Client(port=zdb.port) as other:
            while not waiting.done():
                other.ping()
                time.sleep(0.02)
        assert waiting.result() == "PING"
    with pytest.raises(ZdbResponseError, match="Unknown command to watch"):
        client.wait("NOPE", 200)


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("Namespace not found", NamespaceNotFound),
        ("This namespace doesn't exists", NamespaceNotFound),
        ("Your active namespace is not available anymore (probably removed).", NamespaceNotFound),
        ("Permission denied", PermissionDenied),
        ("Access denied", PermissionDenied),
        ("Namespace protected and private", PermissionDenied),
        ("No space left on this namespace", NoSpaceLeft),
        ("Namespace is temporarily locked (read-only)", ReadOnly),
        ("Namespace is temporarily frozen (read-write disabled)", ReadOnly),
        ("Namespace is in read-only mode", ReadOnly),
        ("Namespace is protected by worm mode", ReadOnly),
        ("Cannot delete a key when namespace is in worm mode", ReadOnly),
        ("Key not found", KeyNotFound),
        ("No keys match", KeyNotFound),
        ("No more data", NoMoreData),
        ("Internal Error: entry of key b'k' in namespace 'x' is corrupt", ChecksumError),
        ("Invalid property", ZdbResponseError),
        ("Internal Error", ZdbResponseError),
    ],
)
def test_error_lines_map_to_typed_exceptions(line, kind):
    exc = error_from_reply(line)
    assert type(exc) is kind
    assert str(exc) == line
    assert isinstance(exc, ZdbError)


# -- secure authentication ------------------------------------------------------------------
def test_secure_proof_is_0db_scheme():
    # sha1("708f109fbef4d656:secret"), lowercase hex
    import hashlib

    expected = hashlib.sha1(b"708f109fbef4d656:secret").hexdigest().encode()
    assert secure_proof("708f109fbef4d656", "secret") == expected
    assert len(expected) == 40


# -- reconnects -----------------------------------------------------------------------------
# -- connections and timeouts ---------------------------------------------------------------
def test_timeout_must_be_positive():
    with pytest.raises(ValueError, match="timeout"):
        Client(timeout=0)
    with pytest.raises(ValueError, match="max_connections"):
        Client(max_connections=0)


def test_busy_pool_makes_callers_wait_then_time_out(zdb):
    with Client(port=zdb.port, max_connections=1, timeout=2) as c, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(c.wait, "SET", 5000)  # holds the only connection, once it runs
        deadline = time.monotonic() + 4
        refused = ""
        while not refused:  # pings get through until the WAIT took the connection
            assert time.monotonic() < deadline, "the WAIT never took the connection"
            try:
                c.ping()
            except ZdbTimeoutError as exc:
                refused = str(exc)
        assert "no free connection" in refused
        assert waiting.result() is None
        assert c.ping()  # the connection is back


# -- construction ---------------------------------------------------------------------------
def test_repr_hides_passwords():
    c = Client(port=1234, namespace="ns", password="hunter2", admin_password="root-pw")
    assert repr(c) == "Client(127.0.0.1:1234, namespace='ns')"
    assert "hunter2" not in repr(c)
    with pytest.raises(ValueError, match="give the namespace"):
        Client(password="pw")


def test_parse_fields():
    text = "# section\nname: x\ncount: 3\nratio: 0.50\nflag: yes\noff: no\nid: 0x0100\n\n"
    assert parse_fields(text) == {
        "name": "x",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "off": False,
        "id": "0x0100",
    }
    with pytest.raises(ZdbError, match="lacks the field 'mode'"):
        NamespaceInfo.parse("name: x\n")
