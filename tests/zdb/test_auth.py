"""Who may do what: AUTH (plain and SECURE challenge), admin-only commands, SELECT passwords."""

from __future__ import annotations

import hashlib
import re
import select
import subprocess
from collections.abc import Iterator

import pytest
import redis

from .conftest import ZdbProcess
from .test_commands import OK, REDIS_CLI, Raw, attach, bulk, cli, err, new_namespace, nsinfo, plain

pytestmark = pytest.mark.both_engines

ADMIN = "secret"
NO_CHALLENGE = "No CHALLENGE requested, secure authentication not available"
READ_ONLY = "Namespace is in read-only mode"


def secure(nonce: bytes | str, password: str) -> str:
    """0-db's SECURE answer: lowercase sha1 hex of "<nonce>:<password>"."""
    if isinstance(nonce, bytes):
        nonce = nonce.decode()
    return hashlib.sha1(f"{nonce}:{password}".encode()).hexdigest()


def challenge(conn: Raw, word: str = "SECURE") -> str:
    reply = conn.call("AUTH", word, "CHALLENGE")
    match = re.fullmatch(rb"\+([0-9a-f]{16})\r\n", reply)
    assert match, reply
    return match[1].decode()


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory, zdb_engine: str) -> Iterator[ZdbProcess]:
    """A server with an admin password, shared by this module's tests (on each engine)."""
    root = tmp_path_factory.mktemp(f"zdb-admin-{zdb_engine}")
    server = ZdbProcess(root, "--admin", ADMIN, engine=zdb_engine).start()
    yield server
    assert server.stop() == 0


def is_admin(conn: Raw) -> bool:
    """Whether the connection has admin rights (NSSET on a missing namespace tells)."""
    reply = conn.call("NSSET", "no-such-namespace", "worm", "1")
    assert reply in (err("Permission denied"), err("Namespace not found")), reply
    return reply == err("Namespace not found")


# -- without --admin --------------------------------------------------------------------------


def test_auth_is_disabled_without_admin_password(zdb_shared):
    with Raw(zdb_shared.port) as conn:
        assert is_admin(conn)  # everyone is admin
        assert conn.call("AUTH", "anything") == err("Authentication disabled")
        assert conn.call("AUTH", "") == err("Authentication disabled")
        nonce = challenge(conn)  # still works: SELECT ... SECURE needs it
        assert conn.call("AUTH", "SECURE", secure(nonce, "x")) == err("Authentication disabled")
        assert conn.call("AUTH") == err("Unexpected arguments")
    assert cli(zdb_shared, "AUTH", "x") == "(error) Authentication disabled"


# -- admin-only commands ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("NSNEW", "newns"),
        ("NSDEL", "default"),
        ("NSSET", "default", "lock", "1"),
        ("NSSET", "no-such-namespace", "worm", "1"),
        ("SET", "k", "v", "1600000000"),
        ("DEL", "k", "1600000000"),
    ],
)
def test_admin_only_commands_are_denied(admin_server, command):
    with Raw(admin_server.port) as conn:
        before = _unauthorized(conn)
        assert conn.call(*command) == err("Permission denied")
        assert _unauthorized(conn) == before + 1
        assert nsinfo(conn, "default")["locked"] == "no"
        assert b"newns" not in conn.value("NSLIST")  # type: ignore[operator]
    assert cli(admin_server, *command) == "(error) Permission denied"
    with pytest.raises(redis.ResponseError, match=r"^Permission denied$"):
        plain(admin_server).execute_command(*command)


def _unauthorized(conn: Raw) -> int:
    text = conn.value("INFO")
    assert isinstance(text, bytes)
    match = re.search(rb"\ncommands_unauthorized: (\d+)\n", text)
    assert match
    return int(match[1])


def test_non_admin_may_use_data_and_read_only_namespace_commands(admin_server):
    with Raw(admin_server.port) as conn:
        assert conn.call("SET", "user-key", "v") == bulk("user-key")
        assert conn.call("GET", "user-key") == bulk("v")
        assert conn.call("DEL", "user-key") == OK
        assert conn.value("NSLIST")[0] == b"default"  # type: ignore[index]
        info = nsinfo(conn, "default")
        assert info["name"] == "default"
        assert "data_path" not in info
        assert conn.call("SELECT", "default") == OK
        assert conn.call("PING") == b"+PONG\r\n"


# -- AUTH <password> --------------------------------------------------------------------------


def test_auth_password(admin_server):
    with Raw(admin_server.port) as conn:
        assert not is_admin(conn)
        assert conn.call("AUTH", "wrong") == err("Access denied")
        assert conn.call("AUTH", ADMIN.upper()) == err("Access denied")
        assert conn.call("AUTH", "") == err("Invalid argument")
        assert conn.call("AUTH", "p" * 129) == err("Password too long")
        assert conn.call("AUTH", "a", "b", "c") == err("Unexpected arguments")
        assert conn.call("AUTH") == err("Unexpected arguments")
        assert not is_admin(conn)
        assert conn.call("AUTH", ADMIN) == OK
        assert is_admin(conn)
        if admin_server.engine == "embedded":  # Tarantool's namespaces have no paths
            assert "data_path" in nsinfo(conn, "default")  # admins see the paths
    with Raw(admin_server.port) as other:
        assert not is_admin(other)  # rights belong to the connection


def test_auth_with_redis_py_and_redis_cli(admin_server):
    for protocol in (2, 3):  # RESP3 clients authenticate through HELLO 3 AUTH
        client = plain(admin_server, password=ADMIN, protocol=protocol)
        with pytest.raises(redis.ResponseError, match=r"^Namespace not found$"):
            client.execute_command("NSINFO", "no-such-namespace")
        with pytest.raises(redis.ResponseError, match=r"^Namespace not found$"):
            client.execute_command("NSSET", "no-such-namespace", "worm", "1")  # admin
        client.close()
        with pytest.raises(redis.RedisError, match="Access denied"):
            plain(admin_server, password="wrong", protocol=protocol).ping()
    flags = ("-a", ADMIN, "--no-auth-warning")
    assert cli(admin_server, *flags, "NSSET", "nope", "worm", "1") == "(error) Namespace not found"
    assert (
        cli(admin_server, "-3", *flags, "NSSET", "nope", "worm", "1")
        == "(error) Namespace not found"
    )
    assert cli(admin_server, "NSSET", "nope", "worm", "1") == "(error) Permission denied"
    script = f"AUTH wrong\nNSSET nope worm 1\nAUTH {ADMIN}\nNSSET nope worm 1\n"
    assert cli(admin_server, stdin=script).splitlines() == [
        "(error) Access denied",
        "(error) Permission denied",
        "OK",
        "(error) Namespace not found",
    ]


# -- AUTH SECURE ------------------------------------------------------------------------------


def test_auth_secure_challenge_response(admin_server):
    with Raw(admin_server.port) as conn:
        assert conn.call("AUTH", "SECURE", "0" * 40) == err(NO_CHALLENGE)
        first = challenge(conn)
        second = challenge(conn)
        assert first != second
        # the newest challenge replaces the older one
        assert conn.call("AUTH", "SECURE", secure(first, ADMIN)) == err("Access denied")
        assert not is_admin(conn)
        nonce = challenge(conn, "secure")  # the method name is case-insensitive
        assert conn.call("AUTH", "SECURE", "abc") == err("Invalid hash length")
        assert conn.call("AUTH", "SECURE", secure(nonce, ADMIN)) == err(NO_CHALLENGE)  # used
        nonce = challenge(conn)
        assert conn.call("AUTH", "SECURE", secure(nonce, ADMIN) + "0") == err("Invalid hash length")
        nonce = challenge(conn)
        answer = secure(nonce, ADMIN)
        assert conn.call("AUTH", "SECURE", answer) == OK
        assert is_admin(conn)
        assert conn.call("AUTH", "SECURE", answer) == err(NO_CHALLENGE)  # single use


def test_auth_secure_nonce_is_single_use_even_after_a_wrong_hash(admin_server):
    with Raw(admin_server.port) as conn:
        nonce = challenge(conn)
        assert conn.call("AUTH", "SECURE", secure(nonce, "wrong")) == err("Access denied")
        assert conn.call("AUTH", "SECURE", secure(nonce, ADMIN)) == err(NO_CHALLENGE)
        assert not is_admin(conn)
        nonce = challenge(conn)
        upper = secure(nonce, ADMIN).upper()  # must be lowercase hex
        assert conn.call("AUTH", "SECURE", upper) == err("Access denied")
        assert not is_admin(conn)


def test_auth_secure_with_redis_cli(admin_server):
    """One redis-cli session: read the nonce it prints, answer with the hash."""
    proc = subprocess.Popen(
        [REDIS_CLI, "-p", str(admin_server.port), "--no-raw"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        proc.stdin.write(b"AUTH SECURE CHALLENGE\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready, "redis-cli printed no nonce"
        nonce = proc.stdout.readline().decode().strip()
        assert re.fullmatch(r"[0-9a-f]{16}", nonce), nonce
        answer = secure(nonce, ADMIN)
        proc.stdin.write(f"NSSET nope worm 1\nAUTH SECURE {answer}\nNSSET nope worm 1\n".encode())
        proc.stdin.close()
        out = proc.stdout.read().decode().splitlines()
    finally:
        proc.stdout.close()
        proc.wait(timeout=10)
    assert out == ["(error) Permission denied", "OK", "(error) Namespace not found"]


@pytest.mark.parametrize("method", ["FOO", "SECUREX", ""])
def test_auth_only_secure_method(admin_server, method):
    with Raw(admin_server.port) as conn:
        assert conn.call("AUTH", method, "CHALLENGE") == err("Only SECURE extra method supported")


# -- SELECT -----------------------------------------------------------------------------------


def test_select_public_namespace_with_password_is_read_only(zdb_shared):
    name = new_namespace(zdb_shared, ("password", "pw"))
    with attach(zdb_shared, name, "pw") as owner:
        assert owner.call("SET", "k", "v") == bulk("k")
    with attach(zdb_shared, name) as reader:  # public: no password needed to read
        assert reader.call("GET", "k") == bulk("v")
        assert reader.call("EXISTS", "k") == b":1\r\n"
        assert reader.call("SET", "k", "w") == err(READ_ONLY)
        assert reader.call("SET", "new", "w") == err(READ_ONLY)
        assert reader.call("DEL", "k") == err(READ_ONLY)
        assert reader.call("SET", "k" * 256, "w") == err("Key too large")  # checked first
        assert reader.call("SELECT", name, "wrong") == err("Access denied")
        assert reader.call("SET", "k", "w") == err(READ_ONLY)
        assert reader.call("SELECT", name, "pw") == OK  # now writable
        assert reader.call("SET", "k", "w") == bulk("k")
    assert cli(zdb_shared, stdin=f"SELECT {name}\nGET k\nDEL k\n").splitlines() == [
        "OK",
        '"w"',
        f"(error) {READ_ONLY}",
    ]


def test_select_private_namespace(zdb_shared):
    name = new_namespace(zdb_shared, ("password", "pw"), ("public", "0"))
    with Raw(zdb_shared.port) as conn:
        conn.call("SET", "where", "default")
        assert conn.call("SELECT", name) == err("Namespace protected and private")
        assert conn.call("GET", "where") == bulk("default")  # still on default
        assert conn.call("SELECT", name, "wrong") == err("Access denied")
        assert conn.call("SELECT", name, "p" * 256) == err("Password too long")
        assert conn.call("SELECT", name, "a", "b", "c") == err("Too many arguments")
        assert conn.call("GET", "where") == bulk("default")
        assert conn.call("SELECT", name, "pw") == OK
        assert conn.call("SET", "where", name) == bulk("where")
        assert conn.call("GET", "where") == bulk(name)
    client = plain(zdb_shared)
    with pytest.raises(redis.ResponseError, match=r"^Namespace protected and private$"):
        client.execute_command("SELECT", name)
    assert client.execute_command("SELECT", name, "pw") == b"OK"
    assert client.execute_command("GET", "where") == name.encode()


def test_select_secure(zdb_shared):
    name = new_namespace(zdb_shared, ("password", "pw"), ("public", "0"))
    with Raw(zdb_shared.port) as conn:
        assert conn.call("SELECT", name, "SECURE", "0" * 40) == err(NO_CHALLENGE)
        nonce = challenge(conn)
        answer = secure(nonce, "pw")
        assert conn.call("SELECT", name, "PLAIN", answer) == err(
            "Only SECURE extra method supported"
        )  # not a try: the nonce is still there
        assert conn.call("SELECT", name, "SECURE", "abc") == err("Invalid hash length")
        for wrong in (secure(nonce, "wrong"), answer.upper()):
            nonce = challenge(conn)
            assert conn.call("SELECT", name, "SECURE", wrong) == err("Access denied")
        nonce = challenge(conn)
        answer = secure(nonce, "pw")
        assert conn.call("SELECT", name, "secure", answer) == OK
        assert conn.call("SET", "k", "v") == bulk("k")  # writable
        conn.ok("SELECT", "default")
        assert conn.call("SELECT", name, "SECURE", answer) == err(NO_CHALLENGE)  # single use
        assert conn.call("GET", "k") == b"$-1\r\n"  # still in default: nil
        assert conn.call("SELECT", name, "SECURE", secure(challenge(conn), "pw")) == OK
        assert conn.call("GET", "k") == bulk("v")


def test_select_secure_nonce_is_single_use_after_a_wrong_try(zdb_shared):
    name = new_namespace(zdb_shared, ("password", "pw"), ("public", "0"))
    with Raw(zdb_shared.port) as conn:
        nonce = challenge(conn)
        assert conn.call("SELECT", name, "SECURE", secure(nonce, "wrong")) == err("Access denied")
        assert conn.call("SELECT", name, "SECURE", secure(nonce, "pw")) == err(NO_CHALLENGE)
        nonce = challenge(conn)
        assert conn.call("SELECT", name, "SECURE", secure(nonce, "pw")) == OK


def test_select_secure_on_admin_server_needs_the_namespace_password(admin_server):
    with Raw(admin_server.port) as admin:
        admin.ok("AUTH", ADMIN)
        admin.ok("NSNEW", "guarded")
        admin.ok("NSSET", "guarded", "password", "nspw")
        admin.ok("NSSET", "guarded", "public", "0")
        # being admin does not bypass a namespace password
        assert admin.call("SELECT", "guarded") == err("Namespace protected and private")
        nonce = challenge(admin)
        assert admin.call("SELECT", "guarded", "SECURE", secure(nonce, ADMIN)) == err(
            "Access denied"
        )
        nonce = challenge(admin)  # one challenge, one try
        assert admin.call("SELECT", "guarded", "SECURE", secure(nonce, "nspw")) == OK
    with Raw(admin_server.port) as user:  # and a namespace password gives no admin rights
        assert user.call("SELECT", "guarded", "nspw") == OK
        assert not is_admin(user)
        assert user.call("SET", "k", "v") == bulk("k")


def test_select_namespace_without_password_ignores_extra_arguments(zdb_shared):
    name = new_namespace(zdb_shared)
    with Raw(zdb_shared.port) as conn:
        assert conn.call("SELECT", name, "any", "thing", "more") == OK
        assert conn.call("SET", "k", "v") == bulk("k")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        ((), "Invalid argument"),
        (("x" * 129,), "Namespace too long"),
        (("no-such-namespace",), "Namespace not found"),
        (("DEFAULT",), "Namespace not found"),  # names are case-sensitive
    ],
)
def test_select_errors(zdb_shared, args, line):
    with Raw(zdb_shared.port) as conn:
        assert conn.call("SELECT", *args) == err(line)
    assert cli(zdb_shared, "SELECT", *args) == f"(error) {line}"
