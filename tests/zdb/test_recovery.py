"""Crash recovery with real server processes: kill -9, torn tails, flipped bytes, --sync.

The promise under test: a write whose reply the client got is there after any crash, with
its exact value, and the server never serves bytes that fail their checksum.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from zeroos.common.harness import HarnessError
from zeroos.zdb import Client
from zeroos.zdb.chain.leaf import OP_FLUSH
from zeroos.zdb.chain.verify import verify_offline
from zeroos.zdb.embedded import EmbeddedEngine
from zeroos.zdb.embedded.folders import TRASH_PREFIX
from zeroos.zdb.embedded.format import DATA_HEADER_SIZE, data_name, index_name
from zeroos.zdb.embedded.segments import parse_records
from zeroos.zdb.embedded.store import FLUSH_MARKER
from zeroos.zdb.namespace import NamespaceSettings

from .rawsock import Closed, RawConn, encode, is_error

MIB = 1024 * 1024
KEYSPACE = 150

Op = tuple[bytes, bytes | None]  # (key, value) or (key, None) for a delete


# -- helpers --------------------------------------------------------------------------------
def file_ids(folder: Path, prefix: str) -> list[int]:
    return sorted(int(f[len(prefix) :]) for f in os.listdir(folder) if f.startswith(prefix))


def index_records(root: Path, ns: str = "default") -> list[tuple[int, tuple]]:
    """Every index record of a namespace on disk, oldest first, as (fileid, record)."""
    folder = root / "index" / ns
    out = []
    for fid in file_ids(folder, "zdb-index-"):
        buf = (folder / index_name(fid)).read_bytes()
        records, _ = parse_records(buf)
        out.extend((fid, rec) for rec in records)
    return out


def current_entry(root: Path, key: bytes, ns: str = "default") -> tuple[Path, int, int]:
    """Where the current version of a key lies: (data file, offset, entry length)."""
    found = None
    for fid, rec in index_records(root, ns):
        if rec[1] == key:
            found = (root / "data" / ns / data_name(fid), rec[2], rec[3])
    assert found is not None, f"{key!r} not in the index"
    return found


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x5A]))


def apply(state: dict[bytes, bytes], ops: list[Op]) -> dict[bytes, bytes]:
    state = dict(state)
    for key, value in ops:
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    return state


def read_keys(conn: RawConn, keys: list[bytes]) -> dict[bytes, bytes]:
    """The live values of keys (MGET in batches); a failed read fails the test."""
    out: dict[bytes, bytes] = {}
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        values = conn.call("MGET", *part)
        assert isinstance(values, list), f"MGET failed: {values!r}"
        for key, value in zip(part, values, strict=True):
            if value is not None:
                out[key] = value
    return out


def scan_keys(conn: RawConn) -> list[bytes]:
    keys: list[bytes] = []
    reply = conn.call("SCAN")
    while not is_error(reply, "No more data"):
        assert isinstance(reply, list), f"SCAN failed: {reply!r}"
        cursor, entries = reply
        keys.extend(entry[0] for entry in entries)
        reply = conn.call("SCAN", cursor)
    return keys


def assert_serves(conn: RawConn, expected: dict[bytes, bytes], keyspace: list[bytes]) -> None:
    """The server holds exactly `expected` among keyspace, every entry passing CHECK."""
    assert read_keys(conn, keyspace) == expected
    assert sorted(scan_keys(conn)) == sorted(expected)
    assert conn.call("DBSIZE") == len(expected)
    for key in expected:
        assert conn.call("CHECK", key) == 1


def write_ops(conn: RawConn, ops: list[Op], batch: int = 50) -> None:
    """Pipelined writes that must all succeed."""
    for i in range(0, len(ops), batch):
        part = ops[i : i + batch]
        conn.send(
            b"".join(encode("SET", k, v) if v is not None else encode("DEL", k) for k, v in part)
        )
        for key, value in part:
            assert conn.reply() == (key if value is not None else b"OK")


def random_ops(
    rng: random.Random, count: int, tag: bytes, keys: int = KEYSPACE, big: float = 0.05
) -> list[Op]:
    """Sets and deletes on a small key space; every value is unique (so never a no-op SET).

    A fraction `big` of the values are 150 kB, to fill 1 MiB data files quickly."""
    live: set[bytes] = set()
    ops: list[Op] = []
    for i in range(count):
        key = b"k%03d" % rng.randrange(keys)
        if key in live and rng.random() < 0.12:
            ops.append((key, None))
            live.discard(key)
            continue
        size = 150_000 if rng.random() < big else rng.choice((0, 1, 17, 200, 1000, 4000))
        head = b"%s:%d:" % (tag, i)
        ops.append((key, (head * (size // len(head) + 1))[: max(size, len(head))]))
        live.add(key)
    return ops


KEYS = [b"k%03d" % i for i in range(KEYSPACE)]


# -- kill -9 --------------------------------------------------------------------------------
def _write_until_killed(server, rng: random.Random, tag: bytes, base: dict[bytes, bytes]):
    """Pipeline random writes until the server is killed under them.

    Returns what was sent and how many writes got their reply.
    """
    sent: list[Op] = []
    acked = 0
    state = dict(base)
    killer = threading.Timer(rng.uniform(0.05, 0.6), server.kill)
    conn = RawConn(server.port)
    killer.start()
    try:
        while True:
            batch: list[Op] = []
            for _ in range(rng.randrange(1, 40)):
                (op,) = random_ops(rng, 1, b"%s:%d" % (tag, len(sent) + len(batch)))
                # deletes only of keys that exist when the server runs them: fixed replies
                if op[0] in state and rng.random() < 0.1:
                    op = (op[0], None)
                batch.append(op)
                state = apply(state, [op])
            data = b"".join(
                encode("SET", k, v) if v is not None else encode("DEL", k) for k, v in batch
            )
            sent.extend(batch)
            conn.send(data)
            for key, value in batch:
                reply = conn.reply()
                assert reply == (key if value is not None else b"OK"), reply
                acked += 1
    except (Closed, OSError):
        pass
    finally:
        killer.join()
        conn.close()
    return sent, acked


def held_prefix(got: dict[bytes, bytes], base: dict[bytes, bytes], sent: list[Op]) -> int | None:
    """The longest n such that `got` is `base` after the first n writes sent, or None."""
    state = dict(base)
    held = 0 if got == state else None
    for n, op in enumerate(sent, 1):
        state = apply(state, [op])
        if got == state:
            held = n
    return held


def _check_prefix(conn: RawConn, base: dict[bytes, bytes], sent: list[Op], acked: int) -> dict:
    """After a crash the server holds the writes of a prefix of what was sent, at least every
    acknowledged one; return that state."""
    got = read_keys(conn, KEYS)
    held = held_prefix(got, base, sent)
    if held is None:
        lost = {k: v for k, v in apply(base, sent[:acked]).items() if got.get(k) != v}
        raise AssertionError(
            f"state after restart is no prefix of the writes (acked {acked} of {len(sent)}); "
            f"first differences: {list(lost.items())[:3]}"
        )
    assert held >= acked, f"acknowledged writes lost: {held} of {acked} acknowledged are there"
    assert sorted(scan_keys(conn)) == sorted(got)
    assert conn.call("DBSIZE") == len(got)
    for key in got:
        assert conn.call("CHECK", key) == 1
    return got


def test_the_prefix_check_catches_lost_and_foreign_writes():
    # the kill -9 tests' promise: every acknowledged write is there (issue 11 item 21: the
    # check used to compare the acked count with itself)
    sent: list[Op] = [(b"a", b"1"), (b"b", b"2"), (b"a", None), (b"c", b"3")]
    base = {b"z": b"0"}
    assert held_prefix(apply(base, sent[:3]), base, sent) == 3
    assert held_prefix(apply(base, sent), base, sent) == 4
    assert held_prefix(base, base, sent) == 0
    lost_one = apply(base, sent[:2])  # the server lost the third (a DEL)
    assert held_prefix(lost_one, base, sent) == 2  # < 3 acknowledged: _check_prefix fails
    assert held_prefix({b"a": b"1", b"c": b"3"}, base, sent) is None  # no prefix at all


@pytest.mark.parametrize("mode", ["default", "sync"])
def test_kill9_while_writing_keeps_every_acknowledged_write(zdb_factory, mode):
    args = ["--datasize", "1M"] + (["--sync"] if mode == "sync" else [])
    server = zdb_factory(*args)
    rng = random.Random(f"kill9-{mode}")
    state: dict[bytes, bytes] = {}
    total_acked = 0
    for round_ in range(6 if mode == "default" else 4):
        sent, acked = _write_until_killed(server, rng, b"r%d" % round_, state)
        total_acked += acked
        server.start()
        with RawConn(server.port) as conn:
            state = _check_prefix(conn, state, sent, acked)
    assert total_acked > 200, "the writer should have got many replies before the kills"
    # the files rotated during the rounds (the recovery of sealed files was exercised)
    assert len(file_ids(server.datadir / "default", "zdb-data-")) >= 2
    # a clean restart after all that still serves the same
    server.restart()
    with RawConn(server.port) as conn:
        assert_serves(conn, state, KEYS)


# -- power cut: torn tails ------------------------------------------------------------------
def _truncate_or_zero(path: Path, cut: int, zero: bool) -> None:
    size = path.stat().st_size
    if zero:  # the size was written, the data blocks were not: they read as zeros
        with open(path, "r+b") as fh:
            fh.seek(cut)
            fh.write(b"\0" * (size - cut))
    else:
        os.truncate(path, cut)


def _cut_point(rng: random.Random, size: int) -> int:
    if rng.random() < 0.7:
        return rng.randrange(max(0, size - size // 10), size + 1)
    return rng.randrange(size + 1)


def test_power_cut_torn_tails_are_cut_and_whole_entries_served(zdb_factory, tmp_path):
    rng = random.Random("powercut")
    server = zdb_factory("--datasize", "1M", root=tmp_path / "pristine")
    # enough big values to fill a few data files, then many small writes in the newest one
    ops = random_ops(rng, 600, b"pc", big=0.04) + random_ops(rng, 700, b"tail", big=0.0)
    with RawConn(server.port) as conn:
        write_ops(conn, ops)
    assert server.stop() == 0
    pristine = tmp_path / "pristine"
    records = index_records(pristine)
    assert len(records) == len(ops)  # one record per write, in order
    newest = max(fid for fid, _ in records)
    assert newest >= 2, "the data should span several files"
    older = sum(1 for fid, _ in records if fid < newest)
    tail = [rec for fid, rec in records if fid == newest]
    dfile = Path("data/default") / data_name(newest)
    ifile = Path("index/default") / index_name(newest)
    dsize = (pristine / dfile).stat().st_size
    isize = (pristine / ifile).stat().st_size

    cases = [
        ("index", False),
        ("data", False),
        ("both", False),
        ("both", True),
        ("data", True),
        ("index", True),
        ("both", False),
        ("data", False),
    ]
    for round_, (what, zero) in enumerate(cases):
        root = tmp_path / f"cut{round_}"
        for part in ("data", "index"):
            shutil.copytree(pristine / part, root / part)
        # mostly a short torn tail, sometimes a deep cut
        dcut = _cut_point(rng, dsize) if what in ("data", "both") else dsize
        icut = _cut_point(rng, isize) if what in ("index", "both") else isize
        if round_ == 0:
            icut = 0  # the whole index of the newest file is gone
        _truncate_or_zero(root / dfile, dcut, zero)
        _truncate_or_zero(root / ifile, icut, zero)
        # every entry whose bytes are whole in the data file survives, whatever the index
        whole = 0
        for rec in tail:
            if rec[2] + rec[3] > dcut:
                break
            whole += 1
        expected = apply({}, ops[: older + whole])
        server = zdb_factory("--datasize", "1M", root=root)
        with RawConn(server.port) as conn:
            assert_serves(conn, expected, KEYS)
            if round_ % 2 == 0:
                # writes after the cut tail land in readable places
                more = [(KEYS[0], b"after the cut %d" % round_), (b"fresh", b"x" * 3000)]
                write_ops(conn, more)
                expected = apply(expected, more)
        if round_ % 2 == 0:
            server.restart()
            with RawConn(server.port) as conn:
                assert_serves(conn, expected, [*KEYS, b"fresh"])
        server.stop()
        shutil.rmtree(root)


# -- flipped bytes --------------------------------------------------------------------------
def _fill(conn: RawConn, count: int = 30) -> dict[bytes, bytes]:
    model = {b"key%02d" % i: b"value %02d " % i * 20 for i in range(count)}
    write_ops(conn, list(model.items()))
    return model


def _value_offset(root: Path, key: bytes) -> tuple[Path, int]:
    path, offset, entrylen = current_entry(root, key)
    return path, offset + DATA_HEADER_SIZE + len(key) + (
        entrylen - DATA_HEADER_SIZE - len(key)
    ) // 2


def _nsinfo_field(conn, name):
    text = conn.call("NSINFO", "default").decode()
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    return int(fields[name])


def test_flipped_byte_in_a_value_is_never_served(zdb):
    with RawConn(zdb.port) as conn:
        model = _fill(conn)
        write_ops(conn, [(b"key05", b"the new value of key05" * 10)])
        model[b"key05"] = b"the new value of key05" * 10
        write_ops(conn, [(b"later", b"written after key05")])
        model[b"later"] = b"written after key05"
        # flip bytes on disk under the running server
        path, where = _value_offset(zdb.root, b"key05")
        flip_byte(path, where)
        hpath, hoffset, _ = current_entry(zdb.root, b"key07")
        flip_byte(hpath, hoffset + 9)  # inside the header (the value length)

        for bad in (b"key05", b"key07"):
            reply = conn.call("GET", bad)
            assert is_error(reply, "Internal Error"), reply
            assert conn.call("CHECK", bad) == 0
            assert is_error(conn.call("MGET", b"key01", bad))
            assert is_error(conn.call("HISTORY", bad))
        for key, value in model.items():
            if key not in (b"key05", b"key07"):
                assert conn.call("GET", key) == value
                assert conn.call("CHECK", key) == 1
        assert conn.call("DBSIZE") == len(model)
        # every refused read above is counted: GET, CHECK, MGET and HISTORY of two keys
        assert _nsinfo_field(conn, "stats_data_faults") == 8

    # after a restart the damaged entries are still refused, the others served
    zdb.restart()
    with RawConn(zdb.port) as conn:
        for bad in (b"key05", b"key07"):
            assert is_error(conn.call("GET", bad), "Internal Error")
            assert conn.call("CHECK", bad) == 0
        for key, value in model.items():
            if key not in (b"key05", b"key07"):
                assert conn.call("GET", key) == value
        # a new write of the key makes it readable again
        write_ops(conn, [(b"key05", b"rewritten")])
        assert conn.call("GET", b"key05") == b"rewritten"
        assert conn.call("CHECK", b"key05") == 1
        # the same value again, same length: compared with a damaged entry, so written
        assert conn.call("SET", b"key07", model[b"key07"]) == b"key07"
        assert conn.call("GET", b"key07") == model[b"key07"]
        assert conn.call("CHECK", b"key07") == 1


def test_flipped_byte_in_an_older_version_is_never_served(zdb):
    with RawConn(zdb.port) as conn:
        write_ops(conn, [(b"h", b"first version " * 5), (b"h", b"second version " * 5)])
        current = conn.call("HISTORY", b"h")
        assert current[2] == b"second version " * 5
        older_cursor = current[0]
        records = [rec for _, rec in index_records(zdb.root) if rec[1] == b"h"]
        first = records[0]
        flip_byte(zdb.datadir / "default" / data_name(0), first[2] + DATA_HEADER_SIZE + 1 + 3)
        reply = conn.call("HISTORY", b"h", older_cursor)
        assert is_error(reply), reply
        assert conn.call("GET", b"h") == b"second version " * 5


def test_flipped_byte_in_the_last_entry_is_damage_not_a_torn_tail(zdb):
    # the last entry is whole and has its index record: a crash never leaves that failing
    # its CRC, so it is kept and reads as damaged (never cut as if it had been torn)
    with RawConn(zdb.port) as conn:
        model = _fill(conn, 10)
        write_ops(conn, [(b"key03", b"newest value, the last entry of the file")])
    zdb.stop()
    path, where = _value_offset(zdb.root, b"key03")
    size = path.stat().st_size
    flip_byte(path, where)
    offset = zdb.log.stat().st_size
    zdb.start()
    with RawConn(zdb.port) as conn:
        assert is_error(conn.call("GET", b"key03"), "Internal Error")
        assert conn.call("CHECK", b"key03") == 0
        for key, value in model.items():
            if key != b"key03":
                assert conn.call("GET", key) == value
        assert _nsinfo_field(conn, "stats_data_cuts") == 0
    assert path.stat().st_size == size
    text = zdb.log.read_text()[offset:]
    assert "event=damaged_entry namespace=default file=zdb-data-00000" in text
    assert "key=b'key03'" in text


def _entries_of(root: Path, fid: int = 0) -> list[tuple[bytes, int, int]]:
    """(key, offset, entry length) of every index record of a data file, in order."""
    return [(rec[1], rec[2], rec[3]) for f, rec in index_records(root) if f == fid]


@pytest.mark.parametrize("where", ["value", "header", "value+index"])
def test_a_damaged_entry_in_the_middle_is_skipped_not_cut(zdb, where):
    # issue 11 item 8: with the index gone (or damaged too), one flipped byte in the middle
    # of the data file cost every later entry (1,000 keys -> 300)
    model = {b"key%04d" % i: b"value of %04d " % i * (1 + i % 7) for i in range(1000)}
    with RawConn(zdb.port) as conn:
        write_ops(conn, list(model.items()))
    zdb.stop()
    entries = _entries_of(zdb.root)
    key, offset, entrylen = entries[len(entries) // 2]
    dpath = zdb.datadir / "default" / data_name(0)
    ipath = zdb.indexdir / "default" / index_name(0)
    size = dpath.stat().st_size
    if where == "header":
        flip_byte(dpath, offset + 6)  # the value length: the entry's end is lost with it
    else:
        flip_byte(dpath, offset + entrylen - 3)
    if where == "value+index":
        flip_byte(ipath, ipath.stat().st_size // 3)  # a record well before the damaged entry
    else:
        ipath.unlink()
    offset_log = zdb.log.stat().st_size
    zdb.start()
    with RawConn(zdb.port) as conn:
        others = [k for k in model if k != key]
        assert read_keys(conn, others) == {k: model[k] for k in others}
        for k in others:
            assert conn.call("CHECK", k) == 1
        if where == "header":  # the key can't be trusted: the entry is skipped
            assert conn.call("CHECK", key) is None
            assert conn.call("DBSIZE") == len(model) - 1
        else:  # kept under its key, read as damaged
            assert conn.call("CHECK", key) == 0
            assert is_error(conn.call("GET", key), "Internal Error")
            assert conn.call("DBSIZE") == len(model)
        assert _nsinfo_field(conn, "stats_data_cuts") == 0
        assert _nsinfo_field(conn, "stats_data_faults") >= 1
        # writes after it land past the whole file, and survive a restart
        write_ops(conn, [(b"after", b"the damage")])
    assert dpath.stat().st_size >= size
    text = zdb.log.read_text()[offset_log:]
    assert f"event=damaged_entry namespace=default file=zdb-data-00000 offset={offset} " in text
    for _ in range(2):  # the chain stays in step with the data across restarts
        zdb.restart()
        with RawConn(zdb.port) as conn:
            assert conn.call("GET", b"after") == b"the damage"
            assert read_keys(conn, others) == {k: model[k] for k in others}
            head = conn.call("CHAIN", "HEAD")
            assert isinstance(head, list), head
            assert head[1] == len(model) + 2  # CREATE, 1,001 SETs
        with Client(port=zdb.port) as client:
            assert client.verified_get(b"after") == b"the damage"
            assert client.verified_get(others[-1]) == model[others[-1]]


def test_records_of_entries_that_never_reached_the_disk_are_a_logged_cut(zdb):
    with RawConn(zdb.port) as conn:
        model = _fill(conn, 20)
        write_ops(conn, [(b"lost", b"a value whose pages were never written " * 40)])
    zdb.stop()
    dpath, offset, entrylen = current_entry(zdb.root, b"lost")
    with open(dpath, "r+b") as fh:  # its index record reached the disk, its data did not
        fh.seek(offset)
        fh.write(b"\0" * entrylen)
    log_offset = zdb.log.stat().st_size
    zdb.start()
    with RawConn(zdb.port) as conn:
        assert conn.call("CHECK", b"lost") is None
        assert read_keys(conn, list(model)) == model
        assert _nsinfo_field(conn, "stats_data_cuts") == 1
        assert _nsinfo_field(conn, "stats_data_cut_bytes") == 0
    text = zdb.log.read_text()[log_offset:]
    assert (
        f"event=data_cut namespace=default file=zdb-data-00000 offset={offset} "
        "bytes=0 key=b'lost' records=1 kept=-"
    ) in text
    assert not [p for p in (zdb.datadir / "default").iterdir() if p.name.startswith("cut-")]


@pytest.mark.parametrize("index", ["kept", "gone"])
def test_a_torn_tail_is_cut_logged_counted_and_kept_aside(zdb, index):
    # issue 11 item 9: a cut was silent
    with RawConn(zdb.port) as conn:
        model = _fill(conn, 20)
        write_ops(conn, [(b"torn", b"the last value, half written " * 40)])
    zdb.stop()
    dpath, offset, entrylen = current_entry(zdb.root, b"torn")
    original = dpath.read_bytes()
    # a power cut: the size reached the disk, the last pages of the entry did not
    half = offset + entrylen // 2
    with open(dpath, "r+b") as fh:
        fh.seek(half)
        fh.write(b"\0" * (entrylen - entrylen // 2))
    if index == "gone":
        (zdb.indexdir / "default" / index_name(0)).unlink()
    log_offset = zdb.log.stat().st_size
    zdb.start()
    with RawConn(zdb.port) as conn:
        assert conn.call("CHECK", b"torn") is None
        assert read_keys(conn, list(model)) == model
        assert _nsinfo_field(conn, "stats_data_cuts") == 1
        assert _nsinfo_field(conn, "stats_data_cut_bytes") == half - offset
        info = conn.call("INFO").decode()
        assert "data_cuts: 1\n" in info
        assert f"data_cut_bytes: {half - offset}\n" in info
    assert dpath.stat().st_size == offset
    text = zdb.log.read_text()[log_offset:]
    assert (
        f"event=data_cut namespace=default file=zdb-data-00000 offset={offset} "
        f"bytes={half - offset} key=b'torn' records={int(index == 'kept')} "
        f"kept=cut-00000-{offset}-"
    ) in text
    (kept,) = [p for p in (zdb.datadir / "default").iterdir() if p.name.startswith("cut-")]
    assert kept.name.startswith(f"cut-00000-{offset}-")
    assert kept.read_bytes() == original[offset:half]
    assert kept.stat().st_mode & 0o777 == 0o600
    # a clean restart cuts nothing more
    zdb.restart()
    with RawConn(zdb.port) as conn:
        assert _nsinfo_field(conn, "stats_data_cuts") == 0
        assert read_keys(conn, list(model)) == model


def test_damaged_index_record_is_rebuilt_from_the_data(zdb_factory):
    server = zdb_factory("--datasize", "1M")
    rng = random.Random("index-damage")
    ops = random_ops(rng, 700, b"ix")
    with RawConn(server.port) as conn:
        write_ops(conn, ops)
    expected = apply({}, ops)
    server.stop()
    folder = server.indexdir / "default"
    ids = file_ids(folder, "zdb-index-")
    assert len(ids) >= 2
    # a flipped byte in the middle of a sealed index file and of the newest one
    for fid in (ids[0], ids[-1]):
        path = folder / index_name(fid)
        flip_byte(path, path.stat().st_size // 2)
    server.start()
    with RawConn(server.port) as conn:
        assert_serves(conn, expected, KEYS)
        assert _nsinfo_field(conn, "stats_index_faults") >= 2  # one per damaged file at least
    server.restart()
    with RawConn(server.port) as conn:
        assert_serves(conn, expected, KEYS)
        assert _nsinfo_field(conn, "stats_index_faults") == 0  # repaired for good


# -- restarts -------------------------------------------------------------------------------
def test_restart_with_many_keys_keeps_everything(zdb_factory):
    server = zdb_factory("--datasize", "1M")
    count = 20_000
    keys = [b"key:%06d" % i for i in range(count)]

    def value(i: int) -> bytes:
        return b"%d" % (i * 7919) * (1 + i % 13)

    with RawConn(server.port) as conn:
        for start in range(0, count, 1000):
            conn.send(
                b"".join(encode("SET", keys[i], value(i)) for i in range(start, start + 1000))
            )
            for i in range(start, start + 1000):
                assert conn.reply() == keys[i]
    expected = {keys[i]: value(i) for i in range(count)}
    for how in ("stop", "kill"):
        if how == "stop":
            server.restart()
        else:
            server.kill()
            server.start()
        with RawConn(server.port) as conn:
            assert conn.call("DBSIZE") == count
            assert read_keys(conn, keys) == expected
            assert len(scan_keys(conn)) == count
    assert len(file_ids(server.datadir / "default", "zdb-data-")) >= 2


def test_restart_after_compaction_then_kill9(zdb_factory):
    server = zdb_factory("--datasize", "1M")
    rng = random.Random("after-compaction")
    ops = random_ops(rng, 900, b"before")
    with RawConn(server.port) as conn:
        write_ops(conn, ops)
    state = apply({}, ops)
    assert server.stop() == 0
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "zeroos.cli.main",
            "zdb",
            "compact",
            "--data",
            str(server.datadir),
            "--index",
            str(server.indexdir),
        ],
        capture_output=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr.decode()
    server.start()
    with RawConn(server.port) as conn:
        assert_serves(conn, state, KEYS)
    sent, acked = _write_until_killed(server, rng, b"after", state)
    server.start()
    with RawConn(server.port) as conn:
        state = _check_prefix(conn, state, sent, acked)
    server.restart()
    with RawConn(server.port) as conn:
        assert_serves(conn, state, KEYS)


# -- fsync: what --sync acknowledges is on the disk ------------------------------------------
@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths passed to fsync (through their descriptor) while the test runs."""
    paths: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return paths


def test_sync_covers_files_sealed_by_a_rotation(tmp_path, fsynced):
    engine = EmbeddedEngine(str(tmp_path / "data"), str(tmp_path / "index"), MIB)
    try:
        store = engine.create("ns", NamespaceSettings())
        engine.sync()
        fsynced.clear()
        # one batch of writes (no sync in between) that crosses two rotations
        for i in range(8):
            store.put(b"k%d" % i, b"x" * 300_000, i)
        engine.sync()
        datadir, indexdir = tmp_path / "data" / "ns", tmp_path / "index" / "ns"
        for fid in (0, 1, 2):
            assert str(datadir / data_name(fid)) in fsynced
            assert str(indexdir / index_name(fid)) in fsynced
        # the folders that got new files, so the files themselves survive a power cut
        assert str(datadir) in fsynced
        assert str(indexdir) in fsynced
        fsynced.clear()
        store.put(b"again", b"y", 99)
        engine.sync()
        # nothing sealed since: only the active pair (and the chain's leaves and hashes)
        assert sorted(fsynced) == sorted(
            [
                str(datadir / data_name(2)),
                str(indexdir / index_name(2)),
                str(indexdir / "zdb-chain-leaves"),
                str(indexdir / "zdb-chain-hashes"),
            ]
        )
    finally:
        engine.close()


# -- damaged or missing folders -------------------------------------------------------------
def test_flipped_byte_in_a_sealed_file_is_never_served(zdb_factory):
    server = zdb_factory("--datasize", "1M")
    model = {b"k%03d" % i: b"%03d" % i * 3000 for i in range(120)}  # ~1 MB a 110 keys
    with RawConn(server.port) as conn:
        write_ops(conn, list(model.items()))
    server.stop()
    path, offset, entrylen = current_entry(server.root, b"k010")
    assert path.name == data_name(0)  # in a sealed file, not the last entry of it
    assert len(file_ids(server.datadir / "default", "zdb-data-")) >= 2
    flip_byte(path, offset + entrylen // 2)
    server.start()
    with RawConn(server.port) as conn:
        assert is_error(conn.call("GET", b"k010"), "Internal Error")
        assert conn.call("CHECK", b"k010") == 0
        for key, value in model.items():
            if key != b"k010":
                assert conn.call("GET", key) == value
        assert conn.call("DBSIZE") == len(model)


def test_missing_data_folder_is_an_error_line_not_a_dropped_client(zdb):
    with RawConn(zdb.port) as conn:
        assert conn.call("NSNEW", "gone") == b"OK"
        assert conn.call("SELECT", "gone") == b"OK"
        assert conn.call("SET", "k", "v") == b"k"
    zdb.stop()
    shutil.rmtree(zdb.datadir / "gone")  # say its disk did not come up
    zdb.start()
    with RawConn(zdb.port) as conn:
        reply = conn.call("SELECT", "gone")
        assert is_error(reply, "Internal Error"), reply
        assert "gone" in str(reply)
        assert conn.call("PING") == b"PONG"
    # the index folder was not touched: the namespace is back once its data folder is
    assert (zdb.indexdir / "gone" / index_name(0)).stat().st_size > 0


def test_missing_default_data_folder_stops_the_start_with_one_line(zdb):
    zdb.stop()
    shutil.rmtree(zdb.datadir / "default")
    offset = zdb.log.stat().st_size
    with pytest.raises(HarnessError, match="exited with 1"):
        zdb.start(timeout=20)
    text = zdb.log.read_bytes()[offset:].decode()
    assert "Traceback" not in text
    assert "error: cannot open namespace 'default'" in text


@pytest.mark.parametrize("event_written", [False, True])
def test_flush_cut_short_by_a_crash_is_finished_on_open(tmp_path, event_written):
    data, index = str(tmp_path / "data"), str(tmp_path / "index")
    engine = EmbeddedEngine(data, index, MIB)
    store = engine.create("ns", NamespaceSettings(password="x", public=False))
    for i in range(300):
        store.put(b"k%d" % i, b"v" * 5000, i)  # over 1 MiB: two file pairs
    engine.flush()
    assert store.chain is not None
    size = store.chain.size
    folder = tmp_path / "index" / "ns"
    if event_written:
        store.chain.event(OP_FLUSH, b"")
    engine.close()
    # the crash: the marker was written, one file of the pair is gone, the other is not
    (folder / FLUSH_MARKER).write_text(str(size))
    os.unlink(folder / index_name(0))
    engine = EmbeddedEngine(data, index, MIB)
    store = engine.open("ns")
    assert store is not None
    assert store.chain is not None
    assert store.entries == 0
    assert store.get(b"k299") is None
    assert store.chain.size == size + 1  # exactly one FLUSH leaf, whoever wrote it
    assert store.chain.leaf(size)[1] == OP_FLUSH
    assert not (folder / FLUSH_MARKER).exists()
    store.put(b"after", b"flush", 1)
    engine.close()
    report = verify_offline(data, index, "ns")
    assert report.live_keys == 1


def test_nsdel_cut_short_by_a_crash_leaves_no_namespace_and_no_data(tmp_path):
    data, index = str(tmp_path / "data"), str(tmp_path / "index")
    engine = EmbeddedEngine(data, index)
    store = engine.create("ns", NamespaceSettings())
    store.put(b"old", b"value", 1)
    engine.close()
    # the crash: the index folder went to the trash (the namespace is gone), the data stayed
    os.rename(tmp_path / "index" / "ns", tmp_path / "index" / f"{TRASH_PREFIX}ns~dead")
    engine = EmbeddedEngine(data, index)
    assert "ns" not in engine.namespaces()
    assert not [e for e in os.listdir(index) if e.startswith(TRASH_PREFIX)]
    again = engine.create("ns", NamespaceSettings())
    assert again.get(b"old") is None
    assert again.entries == 0
    engine.drop("ns")
    assert os.listdir(data) == ["default"] or "ns" not in os.listdir(data)
    engine.close()


def test_a_chain_event_makes_the_data_before_it_durable_first(tmp_path, monkeypatch):
    engine = EmbeddedEngine(str(tmp_path / "data"), str(tmp_path / "index"))
    store = engine.create("ns", NamespaceSettings())
    store.put(b"k", b"v", 1)
    engine.flush()
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    assert store.chain is not None
    store.chain.event(OP_FLUSH, b"")  # any event: NSSET, RESERVE, EXPIRE...
    names = [os.path.basename(path) for path in synced]
    # a power cut can't keep the event and lose the entries its earlier leaves stand for
    assert names.index(data_name(0)) < names.index("zdb-chain-leaves")
    assert names.index(index_name(0)) < names.index("zdb-chain-leaves")
    monkeypatch.undo()
    engine.close()
