"""Password guessing is slowed per connection and per address, and logged; nobody else waits."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import hiredis
import pytest

from zeroos.zdb.server.throttle import FREE_FAILURES, MAX_DELAY, GuessThrottle

from .conftest import ZdbProcess
from .rawsock import RawConn, encode

ADMIN = "the-admin-secret"
GUESSES = 10_000
WINDOW = 3.0  # seconds the attacker gets; the first slowed tries take 0.05+0.1+...+1.6 = 3.15 s


def _pipeline(port: int, commands: bytes) -> tuple[socket.socket, threading.Thread]:
    """Send every command at once from a thread (the server stops reading a slowed client)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)

    def send() -> None:
        # the test shuts the socket down: the rest was never meant to arrive
        with contextlib.suppress(OSError):
            sock.sendall(commands)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    return sock, sender


def _replies_within(sock: socket.socket, seconds: float) -> list[object]:
    """Every reply the server sent on sock during the next `seconds`."""
    reader = hiredis.Reader()
    replies: list[object] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(1 << 16)
        except TimeoutError:
            break
        if not data:
            break
        reader.feed(data)
        while (item := reader.gets()) is not False:
            replies.append(item)
    return replies


def _ping_latencies(port: int, stop: threading.Event, out: list[float]) -> None:
    with RawConn(port) as conn:
        while not stop.is_set():
            start = time.monotonic()
            assert conn.call("PING") == b"PONG"
            out.append(time.monotonic() - start)
            stop.wait(0.05)


@pytest.fixture
def server(zdb_factory: object) -> ZdbProcess:
    return zdb_factory("--admin", ADMIN)  # type: ignore[operator,no-any-return]


def test_ten_thousand_auth_guesses_are_slowed_and_others_stay_fast(server):
    latencies: list[float] = []
    stop = threading.Event()
    pinger = threading.Thread(target=_ping_latencies, args=(server.port, stop, latencies))
    pinger.start()
    try:
        guesses = b"".join(encode("AUTH", f"guess-{i:05d}") for i in range(GUESSES))
        sock, sender = _pipeline(server.port, guesses)
        with sock:
            replies = _replies_within(sock, WINDOW)
            sock.shutdown(socket.SHUT_RDWR)  # wakes the sender if the server stopped reading
        sender.join(timeout=30)
    finally:
        stop.set()
        pinger.join(timeout=30)
    # without the throttle all 10,000 come back in well under a second
    assert all(isinstance(r, hiredis.ReplyError) and str(r) == "Access denied" for r in replies)
    assert FREE_FAILURES <= len(replies) <= FREE_FAILURES + 7, len(replies)
    assert latencies
    assert max(latencies) < 1.0, max(latencies)  # nobody else waited
    # a right password still works: answered within MAX_DELAY of the address's last try (the
    # attacker's pending one, at most MAX_DELAY away), and not faster than a wrong one would be
    with RawConn(server.port) as conn:
        start = time.monotonic()
        assert conn.call("AUTH", ADMIN) == b"OK"
        elapsed = time.monotonic() - start
        assert MAX_DELAY * 0.75 <= elapsed <= 2 * MAX_DELAY + 2.0, elapsed
        assert conn.call("NSNEW", "after") == b"OK"  # admin now
    log = server.log.read_text()
    assert "event=auth_failed peer=127.0.0.1 command=AUTH" in log
    assert "guess-" not in log  # never what was tried


def test_select_guesses_from_many_connections_are_answered_one_at_a_time(server):
    with RawConn(server.port) as admin:
        assert admin.call("AUTH", ADMIN) == b"OK"
        assert admin.call("NSNEW", "vault") == b"OK"
        assert admin.call("NSSET", "vault", "password", "right") == b"OK"
        assert admin.call("NSSET", "vault", "public", "0") == b"OK"
    # one guess per connection, all at once: more connections must not buy more guesses
    conns = [RawConn(server.port) for _ in range(FREE_FAILURES + 20)]
    try:
        for i, conn in enumerate(conns):
            conn.send(encode("SELECT", "vault", f"wrong-{i}"))
        answered = 0
        deadline = time.monotonic() + WINDOW
        for conn in conns:
            try:
                reply = conn.reply(timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                continue
            assert str(reply) == "Access denied"
            answered += 1
        assert FREE_FAILURES <= answered <= FREE_FAILURES + 7, answered
    finally:
        for conn in conns:
            conn.close()
    log = server.log.read_text()
    assert "command=SELECT namespace=vault" in log
    assert "wrong-" not in log


def test_the_throttle_forgives_and_keeps_a_bounded_table():
    now = [1000.0]
    throttle = GuessThrottle(free=2, first=0.5, cap=4.0, forgive=10.0, size=3, clock=lambda: now[0])
    assert throttle.delay("a", 0) == 0.0
    throttle.failed("a")
    throttle.failed("a")
    assert throttle.delay("a", 0) == 0.5  # the first slowed try
    throttle.failed("a")
    assert throttle.delay("a", 0) == 0.5 + 1.0  # answered after the previous one
    now[0] += 1.5
    for _ in range(10):
        throttle.failed("a")
    assert throttle.delay("a", 0) == 4.0  # capped
    assert throttle.delay("b", 0) == 0.0  # other addresses are not slowed
    assert throttle.delay("b", 5) == 0.5 * 2**3  # but a connection's own failures count
    now[0] += 10 * 20  # enough forgiven
    assert throttle.delay("a", 0) == 0.0
    for name in "cdef":
        throttle.delay(name, 0)
    assert len(throttle) == 3
