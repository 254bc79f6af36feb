"""The server's per-connection path in process, with a fake transport.

``Connection.data_received`` inlines ``RequestReader.get`` and the common case of
``Commands.execute`` for speed. These tests hold it to the plain rule: the same replies as a
loop over ``get()`` and ``execute()``, whatever the chunking; replies only after the group
flush; exact counters; WAIT, bounded replies, flush failures and closing errors as before.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zeroos.zdb.embedded.engine import EmbeddedEngine
from zeroos.zdb.errors import ReplyError, StorageError, ZdbError
from zeroos.zdb.protocol import ProtocolViolation, RequestReader, error
from zeroos.zdb.server.commands import TABLE, Commands
from zeroos.zdb.server.net import REPLY_CHUNK, Connection, ServerConfig, ZdbServer

from .rawsock import encode


class FakeTransport:
    """What Connection uses of an asyncio transport, recording what it is asked."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False
        self.reading = True
        self.eof = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 4242) if name == "peername" else default

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def close(self) -> None:
        self.closing = True

    def take(self) -> bytes:
        out = b"".join(self.writes)
        self.writes.clear()
        return out


@pytest.fixture
def make_commands(tmp_path: Path) -> Iterator[Callable[[], Commands]]:
    engines: list[EmbeddedEngine] = []

    def make() -> Commands:
        root = tmp_path / str(len(engines))
        engine = EmbeddedEngine(root / "data", root / "index")
        engines.append(engine)
        return Commands(engine)

    yield make
    for engine in engines:
        engine.close()


def connect(server: ZdbServer) -> tuple[Connection, FakeTransport]:
    transport = FakeTransport()
    conn = Connection(server)
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


async def settle() -> None:
    """Let the loop run the group flush (and any wake-ups) scheduled so far."""
    for _ in range(3):
        await asyncio.sleep(0)


def reference(commands: Commands, stream: bytes) -> bytes:
    """The replies by the plain rule: RequestReader.get and Commands.execute, one by one."""
    session = commands.new_session()
    reader = RequestReader()
    reader.feed(stream)
    out = []
    while True:
        try:
            cmd = reader.get()
        except ProtocolViolation as exc:
            out.append(error(exc.line))
            if exc.close:
                break
            continue
        if cmd is None:
            break
        try:
            out.append(commands.execute(session, cmd))
        except ReplyError as exc:
            out.append(error(exc.line))
            break
        except ZdbError as exc:
            out.append(error(f"Internal Error: {exc}"))
    return b"".join(out)


def random_commands(rng: random.Random, count: int) -> list[bytes]:
    keys = [b"k%d" % i for i in range(8)] + [b"", b"x" * 255, b"y" * 256]
    values = [b"", b"v", b"value", b"\r\n*1\r\n", bytes(rng.randbytes(300))]
    out = []
    for _ in range(count):
        pick = rng.random()
        key, value = rng.choice(keys), rng.choice(values)
        if pick < 0.3:
            out.append(encode(rng.choice([b"SET", b"set", b"SeT"]), key, value))
        elif pick < 0.55:
            out.append(encode(rng.choice([b"GET", b"get"]), key))
        elif pick < 0.65:
            out.append(encode(b"DEL", key))
        elif pick < 0.7:
            out.append(encode(b"EXISTS", key))
        elif pick < 0.75:
            out.append(encode(b"PING"))
        elif pick < 0.8:
            out.append(encode(rng.choice([b"SET", b"GET"]), *([key] * rng.randrange(0, 5))))
        elif pick < 0.84:
            out.append(encode(b"NOPE", key))
        elif pick < 0.88:
            out.append(encode(b""))
        elif pick < 0.92:
            out.append(b"*0\r\n")  # Missing arguments, stream kept
        elif pick < 0.96:
            out.append(b"*2\r\n$3\r\nGET\r\n:1\r\n")  # Malformed query string, stream kept
        else:
            out.append(encode(b"DBSIZE"))
    return out


def chunks(rng: random.Random, data: bytes) -> list[bytes]:
    out = []
    pos = 0
    while pos < len(data):
        step = rng.choice([1, 2, 7, 40, 300, 5000])
        out.append(data[pos : pos + step])
        pos += step
    return out


@pytest.mark.parametrize("seed", range(6))
def test_same_replies_as_get_and_execute_whatever_the_chunking(make_commands, seed):
    rng = random.Random(seed)
    stream = b"".join(random_commands(rng, 400))
    if seed % 2:  # a stream that ends in an error that closes the connection
        stream += encode(b"PING") + b"PING\r\n" + encode(b"SET", b"after", b"x")
    expected = reference(make_commands(), stream)

    async def main() -> bytes:
        server = ZdbServer(make_commands(), ServerConfig())
        conn, transport = connect(server)
        for piece in chunks(rng, stream):
            conn.data_received(piece)
            if rng.random() < 0.3:
                await settle()
        await settle()
        return transport.take()

    assert asyncio.run(main()) == expected


def test_replies_leave_only_after_the_group_flush(make_commands):
    commands = make_commands()
    transport = FakeTransport()
    writes_at_flush: list[int] = []
    real_flush = commands.engine.flush

    def flush() -> None:
        writes_at_flush.append(len(transport.writes))
        real_flush()

    commands.engine.flush = flush  # type: ignore[method-assign]

    async def main() -> None:
        conn = Connection(ZdbServer(commands, ServerConfig()))
        conn.connection_made(transport)  # type: ignore[arg-type]
        conn.data_received(encode("SET", "a", "1") + encode("GET", "a"))
        conn.data_received(encode("SET", "b", "2"))
        assert transport.writes == []  # nothing before the flush of this loop iteration
        await settle()

    asyncio.run(main())
    assert writes_at_flush == [0]  # one flush, before any write
    assert transport.writes == [b"$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n"]  # one write for both


def test_a_command_split_anywhere_runs_once_whole(make_commands):
    commands = make_commands()
    stream = encode("SET", "key", "x" * 100) + encode("GET", "key")

    async def main() -> bytes:
        server = ZdbServer(commands, ServerConfig())
        conn, transport = connect(server)
        for byte in stream:
            conn.data_received(bytes([byte]))
        await settle()
        return transport.take()

    assert asyncio.run(main()) == b"$3\r\nkey\r\n$100\r\n" + b"x" * 100 + b"\r\n"


def test_counters_stay_exact(make_commands):
    commands = make_commands()
    stream = (
        encode("SET", "a", "1")
        + encode("get", "a")
        + encode("NOPE")
        + b"*0\r\n"
        + encode("GET")
        + encode("INFO")
        + encode("PING")
    )

    async def main() -> bytes:
        server = ZdbServer(commands, ServerConfig())
        conn, transport = connect(server)
        conn.data_received(stream)
        await settle()
        return transport.take()

    replies = asyncio.run(main())
    stats = commands.stats
    # *0 is no command; INFO counts itself and the four before it
    assert stats.commands_executed == 6
    assert re.search(rb"commands_executed: 5\b", replies), replies
    assert stats.commands_failed == 1
    assert stats.network_rx_bytes == len(stream)
    assert stats.network_tx_bytes == len(replies)


def test_permission_denied_is_counted_on_the_fast_path(tmp_path):
    engine = EmbeddedEngine(tmp_path / "data", tmp_path / "index")
    commands = Commands(engine, admin_password="secret")

    async def main() -> bytes:
        server = ZdbServer(commands, ServerConfig())
        conn, transport = connect(server)
        conn.data_received(encode("SET", "k", "v", "12") + encode("NSNEW", "x"))
        await settle()
        return transport.take()

    try:
        assert asyncio.run(main()) == b"-Permission denied\r\n" * 2
        assert commands.stats.commands_unauthorized == 2
    finally:
        engine.close()


def test_wait_parks_the_rest_of_a_pipeline(make_commands):
    commands = make_commands()

    async def main() -> None:
        server = ZdbServer(commands, ServerConfig())
        waiter, wt = connect(server)
        writer, ww = connect(server)
        waiter.data_received(encode("WAIT", "SET", "5000") + encode("PING"))
        await settle()
        assert wt.writes == []
        assert not wt.reading
        # with a WAIT parked, commands take Commands.execute (which notifies)
        writer.data_received(encode("GET", "k") + encode("SET", "k", "v"))
        await settle()
        assert ww.take() == b"$-1\r\n$1\r\nk\r\n"
        assert wt.take() == b"+SET\r\n+PONG\r\n"
        assert wt.reading
        assert not commands.waiters

    asyncio.run(main())
    assert commands.stats.commands_executed == 4


def test_a_dropped_namespace_closes_the_connection(make_commands):
    commands = make_commands()

    async def main() -> None:
        server = ZdbServer(commands, ServerConfig())
        user, ut = connect(server)
        admin, at = connect(server)
        admin.data_received(encode("NSNEW", "gone"))
        user.data_received(encode("SELECT", "gone"))
        await settle()
        admin.data_received(encode("NSDEL", "gone"))
        await settle()
        assert ut.take() == b"+OK\r\n"
        assert at.take() == b"+OK\r\n+OK\r\n"
        user.data_received(encode("GET", "k") + encode("PING"))
        await settle()
        reply = ut.take()
        assert reply.startswith(b"-Your active namespace is not available"), reply
        user.data_received(encode("PING"))  # draining: read and dropped
        await settle()
        assert ut.writes == []

    asyncio.run(main())


def test_a_closing_protocol_error_answers_what_came_before(make_commands):
    commands = make_commands()

    async def main() -> None:
        server = ZdbServer(commands, ServerConfig())
        conn, transport = connect(server)
        conn.data_received(encode("PING") + encode("SET", "a", "1") + b"*x\r\n")
        conn.data_received(encode("SET", "b", "2"))
        await settle()
        assert transport.take() == b"+PONG\r\n$1\r\na\r\n-Bad multi-bulk length\r\n"
        assert not transport.eof  # replies were held when the error came: no EOF before them

    asyncio.run(main())
    assert commands.default.get(b"a") == b"1"
    assert commands.default.get(b"b") is None


def test_big_replies_leave_early_and_a_paused_writer_stops_the_pipeline(make_commands):
    commands = make_commands()
    value = b"v" * (REPLY_CHUNK // 3)
    commands.default.put(b"big", value, 1)

    async def main() -> None:
        server = ZdbServer(commands, ServerConfig())
        conn, transport = connect(server)
        real_write = transport.write

        def write(data: bytes) -> None:
            real_write(data)
            conn.pause_writing()  # as a transport whose buffer passed its high-water mark

        transport.write = write  # type: ignore[method-assign]
        conn.data_received(encode("GET", "big") * 10)
        # more than a chunk of replies went out before data_received returned, then it stopped
        sent = transport.take()
        assert sent.count(value) == 3
        assert not transport.reading
        transport.write = real_write  # type: ignore[method-assign]
        conn.resume_writing()
        await settle()
        assert transport.take().count(value) == 7

    asyncio.run(main())


def test_a_failed_flush_turns_every_held_reply_into_an_error(make_commands):
    commands = make_commands()

    def flush() -> None:
        raise StorageError("disk gone")

    commands.engine.flush = flush  # type: ignore[method-assign]

    async def main() -> bytes:
        server = ZdbServer(commands, ServerConfig())
        conn, transport = connect(server)
        conn.data_received(encode("SET", "a", "1") + encode("PING") + encode("GET", "a"))
        await settle()
        return transport.take()

    try:
        assert asyncio.run(main()) == b"-Internal Error: disk gone\r\n" * 3
    finally:
        del commands.engine.flush  # type: ignore[method-assign]


def test_closed_transport_gets_nothing(make_commands):
    commands = make_commands()

    async def main() -> None:
        server = ZdbServer(commands, ServerConfig())
        conn, transport = connect(server)
        conn.data_received(encode("PING"))
        transport.closing = True
        await settle()
        assert transport.writes == []
        assert commands.stats.network_tx_bytes == 0

    asyncio.run(main())


def test_the_table_rules_run_before_every_handler_they_name(tmp_path):
    """Each command the table marks admin is refused to a guest before anything else (even a
    wrong count); each with an arity refuses another count and an empty argument."""
    engine = EmbeddedEngine(tmp_path / "data", tmp_path / "index")
    commands = Commands(engine, admin_password="secret")
    try:
        assert len({spec.name for spec in TABLE}) == len(TABLE)
        assert set(commands.table) == {spec.name for spec in TABLE}
        guest = commands.new_session()
        admin_only = [spec for spec in TABLE if spec.admin]
        assert {spec.name for spec in admin_only} >= {b"NSNEW", b"NSDEL", b"RESERVE", b"STOP"}
        for spec in admin_only:
            for args in ([spec.name], [spec.name.lower(), b"a", b"b", b"c", b"d", b"e"]):
                assert commands.execute(guest, args) == b"-Permission denied\r\n", spec.name
        assert commands.stats.commands_unauthorized == 2 * len(admin_only)
        admin = commands.new_session()
        admin.admin = True
        counted = [spec for spec in TABLE if spec.arity is not None]
        assert {spec.name for spec in counted} >= {b"NSINFO", b"KEYCUR", b"RESERVATION"}
        for spec in counted:
            arity = spec.arity or 0
            short = [spec.name] + [b"x"] * (arity - 2)
            empty = [spec.name] + [b"x"] * (arity - 2) + [b""]
            assert commands.execute(admin, short) == b"-Unexpected arguments\r\n", spec.name
            assert commands.execute(admin, empty) == b"-Invalid argument\r\n", spec.name
    finally:
        engine.close()
