"""WAIT: a connection parks until another client runs a matching command in its namespace."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .test_commands import REDIS_CLI, Raw, attach, bulk, err, new_namespace, plain

pytestmark = pytest.mark.both_engines

UNKNOWN = "Unknown command to watch"


@pytest.fixture
def pair(zdb_shared):
    """Two raw connections on the same fresh namespace: a waiter and an actor."""
    name = new_namespace(zdb_shared)
    waiter, actor = attach(zdb_shared, name), attach(zdb_shared, name)
    yield waiter, actor
    waiter.close()
    actor.close()


def executed(observer: Raw) -> int:
    """The server's count of commands run (INFO's ``commands_executed``, this INFO included)."""
    found = re.search(rb"commands_executed: (\d+)", observer.call("INFO"))
    assert found is not None
    return int(found.group(1))


@contextmanager
def running(server: Raw | int) -> Iterator[None]:
    """Leaves once the server (a port, or a connection to it) ran one more command than on
    entry: a WAIT sent inside is then parked, and a command sent next finds it so. The
    state (INFO's count), polled, not a guessed delay.

    Counts on a connection of its own, in the default namespace, which no test's waiter
    watches (an INFO in the waiter's namespace would wake a ``WAIT *``).
    """
    port = server if isinstance(server, int) else server.sock.getpeername()[1]
    with Raw(port) as observer:
        before = executed(observer)
        yield
        deadline = time.monotonic() + 30
        infos = 1
        while executed(observer) < before + infos + 1:
            assert time.monotonic() < deadline, "the server did not run the command sent"
            infos += 1
            time.sleep(0.01)


def settled(port: int) -> None:
    """Returns once the server handled a hang-up that happened before this was called.

    Two round trips on another connection: the server's poll that reads the first saw every
    socket event before it was sent (the closed socket), and the second is read in a later
    iteration, after the callbacks that poll scheduled (the lost connection's) ran.
    """
    with Raw(port) as observer:
        for _ in range(2):
            assert observer.call("PING") == b"+PONG\r\n"


def parked(conn: Raw, seconds: float = 0.3) -> bool:
    """True when nothing arrives on the connection for a while (the WAIT is pending).

    A WAIT sent on ``conn`` within :func:`running` was run by then: a reply it got would
    already be here, and a command sent next finds it parked.
    """
    conn.sock.settimeout(seconds)
    try:
        data = conn.sock.recv(1 << 16)
    except TimeoutError:
        return True
    finally:
        conn.sock.settimeout(10)
    conn.buf += data
    return False


@pytest.mark.parametrize(
    ("watch", "command", "wakes"),
    [
        ("SET", ("SET", "k", "v"), b"+SET\r\n"),
        ("set", ("SET", "k", "v"), b"+SET\r\n"),  # matched case-insensitively
        ("*", ("GET", "k"), b"+GET\r\n"),
        ("*", ("PING",), b"+PING\r\n"),
        ("DEL", ("DEL", "missing"), b"+DEL\r\n"),  # fires even when the command failed
        ("SCANX", ("SCAN",), b"+SCAN\r\n"),
        ("SCAN", ("SCANX",), b"+SCAN\r\n"),
    ],
)
def test_another_clients_command_wakes_the_waiter(pair, watch, command, wakes):
    waiter, actor = pair
    with running(waiter):
        waiter.send("WAIT", watch, "5000")
    assert parked(waiter)
    actor.call(*command)
    assert waiter.read() == wakes
    assert waiter.call("PING") == b"+PONG\r\n"  # the connection goes on normally


def test_other_commands_and_namespaces_do_not_wake(pair, zdb_shared):
    waiter, actor = pair
    start = time.monotonic()
    with running(waiter):
        waiter.send("WAIT", "SET", "1000")
    assert parked(waiter, 0.2)
    actor.call("GET", "k")
    actor.call("NOSUCHCOMMAND")
    with Raw(zdb_shared.port) as elsewhere:  # on default: another namespace
        assert elsewhere.call("SET", "wait-elsewhere", "v") == bulk("wait-elsewhere")
    assert waiter.read() == err("Timeout")
    assert 0.9 <= time.monotonic() - start < 5


def test_timeout_and_commands_sent_behind_the_wait(pair):
    waiter, _actor = pair
    start = time.monotonic()
    waiter.sock.sendall(
        b"*3\r\n$4\r\nWAIT\r\n$3\r\nSET\r\n$3\r\n100\r\n"  # shortest timeout
        b"*1\r\n$4\r\nPING\r\n"
    )
    assert waiter.read() == err("Timeout")
    assert time.monotonic() - start < 3
    assert waiter.read() == b"+PONG\r\n"  # pipelined command ran after the WAIT ended


def test_queued_commands_run_after_the_wake(pair):
    waiter, actor = pair
    with running(waiter):
        waiter.sock.sendall(
            b"*3\r\n$4\r\nWAIT\r\n$3\r\nSET\r\n$4\r\n5000\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        )
    assert parked(waiter)
    actor.call("SET", "k", "woken")
    assert waiter.read() == b"+SET\r\n"
    assert waiter.read() == bulk("woken")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("FOO",), UNKNOWN),
        (("NOSUCHCOMMAND", "1000"), UNKNOWN),
        (("SET", "99"), "Invalid timeout"),
        (("SET", "1800001"), "Invalid timeout"),
        (("SET", "-1"), "Invalid timeout"),
        (("SET", "abc"), "Invalid timeout"),
        (("SET", "1" + "0" * 16), "Invalid timeout"),
        ((), "Invalid arguments"),
        (("SET", "1000", "extra"), "Invalid arguments"),
    ],
)
def test_wait_errors(zdb_shared, args, line):
    with Raw(zdb_shared.port) as conn:
        assert conn.call("WAIT", *args) == err(line)
        assert conn.call("PING") == b"+PONG\r\n"  # not parked


def test_wait_bounds_are_accepted(pair):
    waiter, actor = pair
    for timeout in ("100", "1800000"):
        with running(waiter):
            waiter.send("WAIT", "SET", timeout)
        if timeout == "100":
            assert waiter.read() == err("Timeout")
        else:
            assert parked(waiter, 0.2)
            actor.call("SET", "k", timeout)
            assert waiter.read() == b"+SET\r\n"


def test_wait_with_redis_py_and_redis_cli(zdb_shared):
    name = new_namespace(zdb_shared)
    waiter = plain(zdb_shared)
    assert waiter.execute_command("SELECT", name) == b"OK"
    result: list[object] = []
    thread = threading.Thread(
        target=lambda: result.append(waiter.execute_command("WAIT", "SET", "5000"))
    )
    with running(zdb_shared.port):
        thread.start()
    assert not result  # parked
    proc = subprocess.Popen(
        [REDIS_CLI, "-p", str(zdb_shared.port), "--no-raw"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    out, _ = proc.communicate(f"SELECT {name}\nWAIT DEL 100\nSET k v\n".encode(), timeout=20)
    thread.join(10)
    assert result == [b"SET"]
    assert out.decode().splitlines() == ["OK", "(error) Timeout", '"k"']


def test_a_waiter_that_hangs_up_is_forgotten(pair, zdb_shared):
    waiter, actor = pair
    with running(waiter):
        waiter.send("WAIT", "*", "5000")
    assert parked(waiter)
    waiter.close()
    settled(zdb_shared.port)  # the server saw the hang-up
    assert actor.call("SET", "k", "v") == bulk("k")  # nothing to wake, nothing breaks
    assert actor.call("GET", "k") == bulk("v")
    with Raw(zdb_shared.port) as other:
        other.ok("SELECT", actor.namespace)
        with running(other):
            other.send("WAIT", "SET", "5000")
        assert parked(other)
        actor.call("SET", "k", "w")
        assert other.read() == b"+SET\r\n"
