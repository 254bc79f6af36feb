"""zero-db's C module (zdb/_native.c) gives the bytes of its Python twins.

The twins are chain/native.py (leaves, hashes), embedded/codec.py (entries, records, values)
and protocol.py (py_frame, the requests' framing).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pathlib
import sys

import pytest
from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroos.zdb import Client
from zeroos.zdb import native as zdb_native
from zeroos.zdb.chain import native
from zeroos.zdb.chain.leaf import DATA_OPS, OP_FLUSH, OP_NSSET, OP_RELEASE, Leaf, LeafError
from zeroos.zdb.chain.verify import verify_offline
from zeroos.zdb.embedded import codec
from zeroos.zdb.embedded.format import (
    DATA_HEADER,
    INDEX_HEADER,
    LEAF_SHIFT,
    NO_PREV,
    encode_entry,
    encode_record,
    entry_valid,
)
from zeroos.zdb.files import AppendFile

from .conftest import ZdbProcess

c = zdb_native.c_module
needs_c = pytest.mark.skipif(
    c is None, reason="the C module is not in use (not built, or ZOS_NO_NATIVE=1)"
)


def test_the_c_module_is_built_where_the_setup_script_ran() -> None:
    # scripts/test.sh installs a compiler and OpenSSL headers and sets this: there the slow
    # Python loops must not stand in unnoticed
    if os.environ.get("ZOS_REQUIRE_NATIVE") == "1":
        assert zdb_native.NATIVE, "zeroos/zdb/_native.c was not built: see setup.py"
    # elsewhere: a module that is built loads, unless ZOS_NO_NATIVE turns it off
    built = importlib.util.find_spec("zeroos.zdb._native") is not None
    assert (built and not zdb_native.DISABLED) == zdb_native.NATIVE


pending_items = st.tuples(
    st.sampled_from([0, native.DELETED]),
    st.binary(min_size=1, max_size=255),
    st.binary(max_size=300),
    st.integers(min_value=0, max_value=2**64 - 1),
)


@needs_c
@settings(max_examples=200, deadline=None)
@given(
    st.lists(pending_items, max_size=40),
    st.integers(min_value=0, max_value=2**40),
    st.text(min_size=1, max_size=64),
    st.sampled_from([0, 1, 3, 63]),
)
def test_leaf_records_match_python(
    pending: list[native.Pending], first: int, name: str, mask: int
) -> None:
    raw = name.encode()[:255]
    ns = bytes((len(raw),)) + raw
    assert c is not None
    assert c.leaf_records(pending, first, ns, mask) == native.py_leaf_records(
        pending, first, ns, mask
    )


@pytest.mark.parametrize(
    "impl", [native.py_leaf_records, pytest.param("c", marks=needs_c)], ids=["python", "c"]
)
def test_leaf_records_are_leaves(impl: object) -> None:
    fn = c.leaf_records if impl == "c" and c is not None else native.py_leaf_records
    value = b"v" * 100
    pending = [
        (0, b"alpha", value, 1_700_000_000_000_000),
        (native.DELETED, b"beta", b"", 1_700_000_000_000_001),
        (native.HASHED, b"gamma", hashlib.sha256(b"x").digest(), 5),
    ]
    records, hashes, marks = fn(pending, 64, b"\x03ns1", 63)
    assert marks == [0]  # leaf 64 is a mark, 65 and 66 are not
    pos, leaves = 0, []
    while pos < len(records):
        crc = int.from_bytes(records[pos : pos + 4], "little")
        length = int.from_bytes(records[pos + 4 : pos + 6], "little")
        body = records[pos + 4 : pos + 6 + length]
        assert crc32c(body) == crc
        leaves.append(body[2:])
        pos += 6 + length
    decoded = [Leaf.decode(raw) for raw in leaves]
    assert [(x.op_name, x.seq, x.key) for x in decoded] == [
        ("SET", 64, b"alpha"),
        ("DEL", 65, b"beta"),
        ("SET", 66, b"gamma"),
    ]
    assert decoded[0].value_hash == hashlib.sha256(value).digest()
    assert decoded[1].value_hash == hashlib.sha256(b"").digest()
    assert decoded[2].value_hash == hashlib.sha256(b"x").digest()
    assert decoded[0].namespace == "ns1"
    assert decoded[0].timestamp_us == 1_700_000_000_000_000
    assert hashes == b"".join(hashlib.sha256(b"\x00" + raw).digest() for raw in leaves)


@needs_c
@pytest.mark.parametrize(
    ("pending", "error"),
    [
        ([(native.HASHED, b"k", b"short", 1)], ValueError),
        ([(0, b"k" * 256, b"v", 1)], ValueError),
        ([(0, "k", b"v", 1)], ValueError),
        ([(0, b"k", b"v")], TypeError),
        ([(0, b"k", b"v", -1)], OverflowError),
        ([(0, b"k", 5, 1)], TypeError),
    ],
)
def test_bad_pending_leaves_raise_and_leak_nothing(
    pending: list[native.Pending], error: type[Exception]
) -> None:
    assert c is not None
    with pytest.raises(error):
        c.leaf_records(pending, 0, b"\x01n", 63)
    with pytest.raises(ValueError, match="namespace prefix"):
        c.leaf_records([], 0, b"", 63)


@needs_c
@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=300), st.binary(max_size=2000))
def test_packed_root_sha256_and_crc_match_python(count: int, data: bytes) -> None:
    assert c is not None
    buf = hashlib.sha256(data).digest() * count
    assert c.packed_root(buf) == native.py_packed_root(buf)
    assert c.sha256(data) == hashlib.sha256(data).digest()
    assert c.crc32c(data) == crc32c(data)
    assert c.crc32c(data, 0xDEADBEEF) == crc32c(data, 0xDEADBEEF)
    # the table code, which machines without SSE4.2 run
    assert c.crc32c(data, 0, True) == crc32c(data)
    assert c.crc32c(data, 0xDEADBEEF, True) == crc32c(data, 0xDEADBEEF)


def test_a_leaf_of_the_wrong_shape_is_not_a_leaf() -> None:
    records, _, _ = native.leaf_records([(0, b"k", b"v", 1)], 0, b"\x01n", 63)
    with pytest.raises(LeafError):
        Leaf.decode(records[6:-1])


entries = st.tuples(
    st.sampled_from([0, 1]),
    st.binary(min_size=1, max_size=255),
    st.binary(max_size=2000),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.one_of(st.just(NO_PREV), st.integers(min_value=0, max_value=2**48 - 1)),
)


@needs_c
@settings(max_examples=200, deadline=None)
@given(st.lists(entries, min_size=1, max_size=20), st.integers(min_value=0, max_value=64))
def test_write_entry_matches_python(
    items: list[tuple[int, bytes, bytes, int, int]], start: int
) -> None:
    assert c is not None
    out = []
    for write in (c.write_entry, codec.py_write_entry):
        dmap, imap = bytearray(start + 64 * 1024), bytearray(start + 8 * 1024)
        dpos = ipos = start
        for flags, key, value, ts, prev in items:
            write(dmap, dpos, imap, ipos, flags, key, value, ts, prev)
            dpos += DATA_HEADER.size + len(key) + len(value)
            ipos += INDEX_HEADER.size + len(key) + 2
        out.append((bytes(dmap), bytes(imap)))
    assert out[0] == out[1]


@pytest.mark.parametrize(
    "write", [codec.py_write_entry, pytest.param("c", marks=needs_c)], ids=["python", "c"]
)
def test_append_entry_writes_a_valid_entry_and_record(tmp_path: object, write: object) -> None:
    fn = c.write_entry if write == "c" and c is not None else codec.py_write_entry
    dmap, imap = bytearray(200), bytearray(100)
    fn(dmap, 7, imap, 3, 0, b"key", b"value", 42, NO_PREV)
    entry = bytes(dmap[7 : 7 + DATA_HEADER.size + 8])
    assert entry_valid(entry)
    _, flags, keylen, vallen, ts, prev = DATA_HEADER.unpack_from(entry)
    assert (flags, keylen, vallen, ts, prev) == (0, 3, 5, 42, NO_PREV)
    assert entry[DATA_HEADER.size :] == b"keyvalue"
    crc, flags, keylen, offset, entrylen, ts = INDEX_HEADER.unpack_from(imap, 3)
    assert (flags, keylen, offset, entrylen, ts) == (0, 3, 7, len(entry), 42)
    record = bytes(imap[3 : 3 + INDEX_HEADER.size + 3 + 2])
    assert crc32c(record[4:]) == crc
    assert record[-2:] == (24 + 3).to_bytes(2, "little")


@needs_c
@pytest.mark.parametrize(
    ("dlen", "ilen", "key", "flags", "error"),
    [
        (10, 100, b"key", 0, "no room"),  # the data buffer is too small
        (100, 10, b"key", 0, "no room"),  # the index buffer is too small
        (1000, 1000, b"k" * 256, 0, "key over 255"),
        (100, 100, b"key", 256, "bad flags"),
    ],
)
def test_write_entry_refuses_and_writes_nothing(
    dlen: int, ilen: int, key: bytes, flags: int, error: str
) -> None:
    assert c is not None
    dmap, imap = bytearray(dlen), bytearray(ilen)
    with pytest.raises(ValueError, match=error):
        c.write_entry(dmap, 0, imap, 0, flags, key, b"value", 1, 0)
    assert dmap == bytearray(dlen)
    assert imap == bytearray(ilen)
    with pytest.raises(BufferError):
        c.write_entry(bytes(10), 0, imap, 0, 0, b"k", b"v", 1, 0)  # not writable


def test_append_entry_grows_the_files(tmp_path: pathlib.Path) -> None:
    data = AppendFile(str(tmp_path / "data"))
    index = AppendFile(str(tmp_path / "index"))
    value = b"x" * 3_000_000
    offsets = [codec.append_entry(data, index, 0, b"k%d" % i, value, i, NO_PREV) for i in range(8)]
    assert offsets == [i * (DATA_HEADER.size + 2 + len(value)) for i in range(8)]
    assert data.size == 8 * (DATA_HEADER.size + 2 + len(value))
    assert index.size == 8 * (INDEX_HEADER.size + 2 + 2)
    assert entry_valid(data.read(offsets[-1], DATA_HEADER.size + 2 + len(value)))
    data.close()
    index.close()


def test_files_written_without_the_c_module_are_read_and_extended_with_it(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server without the C module warns, says so in INFO, and writes the same files."""
    monkeypatch.setenv("ZOS_NO_NATIVE", "1")
    server = ZdbProcess(tmp_path).start()
    try:
        with Client(port=server.port) as client:
            for i in range(300):
                client.set(b"k%d" % i, b"v%d" % i * 50)
            client.delete(b"k7")
            assert client.info()["native"] == "off"
    finally:
        server.stop()
    assert "event=native_missing" in server.log.read_text()
    monkeypatch.delenv("ZOS_NO_NATIVE")
    server.start()
    try:
        with Client(port=server.port) as client:
            built = importlib.util.find_spec("zeroos.zdb._native") is not None
            assert client.info()["native"] == ("on" if built else "off")
            assert client.verified_get(b"k3") == b"v3" * 50
            assert client.get(b"k7") is None
            client.set(b"k300", b"written by the other writer")
            assert client.verified_get(b"k300") == b"written by the other writer"
    finally:
        server.stop()
    report = verify_offline(str(server.datadir), str(server.indexdir), "default")
    assert report.entries == 302  # 301 SETs and one DEL
    assert report.live_keys == 300


@pytest.mark.parametrize(
    "read", [codec.py_read_value, pytest.param("c", marks=needs_c)], ids=["python", "c"]
)
def test_read_value_gives_a_sound_value_and_none_for_anything_else(read: object) -> None:
    fn = c.read_value if read == "c" and c is not None else codec.py_read_value
    dmap, imap = bytearray(300), bytearray(100)
    codec.py_write_entry(dmap, 10, imap, 0, 0, b"key", b"the value", 7, NO_PREV)
    entrylen = DATA_HEADER.size + 3 + 9
    assert fn(dmap, 10, entrylen, b"key") == b"the value"
    assert fn(dmap, 10, entrylen, b"kez") is None  # another key
    assert fn(dmap, 10, entrylen - 1, b"key") is None  # a length that is not the entry's
    assert fn(dmap, 10, entrylen + 1, b"key") is None
    assert fn(dmap, 290, entrylen, b"key") is None  # past the end of the map
    assert fn(dmap, 10, 5, b"key") is None  # shorter than a header
    for pos in (0, 4, 12, entrylen - 1):  # CRC, flags, header, last value byte
        flipped = bytearray(dmap)
        flipped[10 + pos] ^= 0x01
        assert fn(flipped, 10, entrylen, b"key") is None


@needs_c
@settings(max_examples=200, deadline=None)
@given(entries, st.binary(max_size=40), st.integers(min_value=0, max_value=80))
def test_read_value_matches_python(
    item: tuple[int, bytes, bytes, int, int], noise: bytes, at: int
) -> None:
    assert c is not None
    flags, key, value, ts, prev = item
    dmap, imap = bytearray(4000), bytearray(400)
    codec.py_write_entry(dmap, 0, imap, 0, flags, key, value, ts, prev)
    dmap[at : at + len(noise)] = noise  # maybe damaged, maybe not
    entrylen = DATA_HEADER.size + len(key) + len(value)
    for length in (entrylen, entrylen - 1, len(noise)):
        assert c.read_value(dmap, 0, length, key) == codec.py_read_value(dmap, 0, length, key)


# -- opening: the scans of index and leaves files -------------------------------------------

ops = st.sampled_from(["set", "del", "flush", "release", "nsset"])


def _leaves_file(steps: list[tuple[str, bytes]]) -> bytes:
    """A leaves file for a sequence of (op, key): data leaves and namespace events."""
    out = bytearray()
    for n, (op, key) in enumerate(steps):
        if op in ("set", "del"):
            flags = native.DELETED if op == "del" else 0
            records, _, _ = native.py_leaf_records([(flags, key, b"v", n)], n, b"\x02ns", 63)
            out += records
        else:
            code = {"flush": OP_FLUSH, "release": OP_RELEASE, "nsset": OP_NSSET}[op]
            raw = Leaf(code, n, n, "ns", b"mode", hashlib.sha256(b"").digest(), b"x").encode()
            body = len(raw).to_bytes(2, "little") + raw
            out += crc32c(body).to_bytes(4, "little") + body
    return bytes(out)


@needs_c
@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(ops, st.sampled_from([b"a", b"b", b"c", b"dd"])), max_size=150),
    st.integers(min_value=0, max_value=5000),
    st.sampled_from([0, 1, 3, 63]),
)
def test_scan_leaves_c_and_python_match_the_record_walk(
    steps: list[tuple[str, bytes]], cut: int, mask: int
) -> None:
    assert c is not None
    buf = _leaves_file(steps)[:cut]  # a torn tail is where the valid run ends
    offsets = list(native.iter_leaf_records(buf))
    end = native.record_end(buf, offsets[-1]) if offsets else 0
    events = [(i, off) for i, off in enumerate(offsets) if buf[off + 7] not in DATA_OPS]
    marks = [off for i, off in enumerate(offsets) if not i & mask]
    expected = (len(offsets), end, marks, events)
    assert c.scan_leaves(buf, mask) == expected
    assert native.py_scan_leaves(buf, mask) == expected


@needs_c
@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(ops, st.sampled_from([b"a", b"b", b"c", b"dd"])), max_size=150),
    st.dictionaries(st.sampled_from([b"a", b"b", b"c", b"dd", b"e"]), st.integers(0, 2**80 - 1)),
)
def test_apply_key_leaves_matches_python(
    steps: list[tuple[str, bytes]], live: dict[bytes, int]
) -> None:
    assert c is not None
    buf = _leaves_file(steps)
    results = []
    for apply in (c.apply_key_leaves, codec.py_apply_key_leaves):
        keys, dels = dict(live), {b"old": 3}
        apply(buf, len(steps), keys, dels, LEAF_SHIFT)
        results.append((keys, dels))
    assert results[0] == results[1]
    # a file shorter than the count says (never after the checks on open): an error, no crash
    with pytest.raises(ValueError, match="end early"):
        c.apply_key_leaves(buf[:-1], max(1, len(steps)), {}, {}, LEAF_SHIFT)


@needs_c
@settings(max_examples=150, deadline=None)
@given(st.lists(entries, max_size=20), st.integers(min_value=0, max_value=4000), st.binary())
def test_index_valid_end_matches_python(
    items: list[tuple[int, bytes, bytes, int, int]], cut: int, noise: bytes
) -> None:
    assert c is not None
    imap = bytearray(20 * 300)
    ipos = 0
    for flags, key, value, ts, _prev in items:
        record = encode_record(flags, key, 0, len(value), ts)
        imap[ipos : ipos + len(record)] = record
        ipos += len(record)
    buf = bytes(imap[: min(cut, ipos)]) + noise
    assert c.index_valid_end(buf) == codec.py_index_valid_end(buf)


def _damaged_data(
    items: list[tuple[int, bytes, bytes, int, int]], flips: list[tuple[int, int]]
) -> tuple[bytes, list[tuple[int, int]], set[int]]:
    """Entries one after another with some bytes flipped: (data, (offset, length) of each
    entry, the indexes of the entries a flip landed in)."""
    spans: list[tuple[int, int]] = []
    data = bytearray()
    for flags, key, value, ts, prev in items:
        entry = encode_entry(flags, key, value, ts, prev)
        spans.append((len(data), len(entry)))
        data += entry
    original = bytes(data)
    for where, xor in flips:
        data[where % len(data)] ^= xor
    hit = {i for i, (off, n) in enumerate(spans) if data[off : off + n] != original[off : off + n]}
    return bytes(data), spans, hit


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    st.lists(entries, min_size=1, max_size=12),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), max_size=4),
    st.sampled_from([b"", b"\0" * 7, b"\0" * 5000, b"torn"]),
    st.integers(min_value=0, max_value=64),
)
def test_scan_entries_matches_python(
    items: list[tuple[int, bytes, bytes, int, int]],
    flips: list[tuple[int, int]],
    tail: bytes,
    start: int,
) -> None:
    assert c is not None
    data, _spans, _hit = _damaged_data(items, flips)
    buf = b"x" * start + data + tail
    assert c.scan_entries(buf, start) == codec.py_scan_entries(buf, start)


@pytest.mark.parametrize(
    "scan", [codec.py_scan_entries, pytest.param("c", marks=needs_c)], ids=["python", "c"]
)
@settings(max_examples=150, deadline=None)
@given(
    st.lists(entries, min_size=1, max_size=12),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), max_size=4),
)
def test_scan_entries_skips_damage_and_finds_every_whole_entry(
    scan: object,
    items: list[tuple[int, bytes, bytes, int, int]],
    flips: list[tuple[int, int]],
) -> None:
    run = c.scan_entries if scan == "c" else scan
    assert callable(run)
    data, spans, hit = _damaged_data(items, flips)
    segments = run(data, 0)
    # the segments tile the data, and the whole ones are exactly the entries left intact
    assert [off for off, _n, _w in segments] == [0] + [off + n for off, n, _w in segments[:-1]]
    assert sum(n for _off, n, _w in segments) == len(data)
    intact = [span for i, span in enumerate(spans) if i not in hit]
    assert [(off, n) for off, n, whole in segments if whole] == intact


_resp_pieces = st.one_of(
    st.integers(min_value=-3, max_value=1100).map(lambda n: b"*%d\r\n" % n),
    st.integers(min_value=-3, max_value=40).map(lambda n: b"$%d\r\n" % n),
    st.binary(max_size=40).map(lambda b: b"$%d\r\n%b\r\n" % (len(b), b)),
    st.sampled_from(
        [b"*2147483648\r\n", b"$0003\r\n", b"*+1\r\n", b":1\r\n", b"\r\n", b"*", b"$1", b"\r"]
    ),
    st.binary(max_size=30),
)


@needs_c
@settings(max_examples=500, deadline=None)
@given(
    st.lists(_resp_pieces, max_size=30).map(b"".join),
    st.integers(min_value=0, max_value=1030),
    st.integers(min_value=0, max_value=50),
    st.booleans(),
    st.integers(min_value=0, max_value=100),
)
def test_resp_frame_matches_its_python_twin(
    data: bytes, left: int, need: int, skip: bool, pos: int
) -> None:
    from zeroos.zdb import protocol

    pos = min(pos, len(data))
    args = (left, need, skip, data, pos, protocol.MAX_ARGS, protocol.SKIP_MAX)
    assert c.resp_frame(*args) == protocol.py_frame(*args)
    assert protocol.frame is c.resp_frame


@needs_c
def test_opening_a_chained_namespace_takes_the_c_path(tmp_path: pathlib.Path) -> None:
    # a restart's time is these scans (1 M keys: ~1.7 s in C, twice that in Python); that the
    # open reaches them in C, and none of their Python twins, is what keeps it so
    from zeroos.zdb.embedded import EmbeddedEngine
    from zeroos.zdb.namespace import NamespaceSettings

    engine = EmbeddedEngine(str(tmp_path / "data"), str(tmp_path / "index"))
    store = engine.create("photos", NamespaceSettings())
    for i in range(200):
        store.put(b"key-%d" % i, b"value", 1)
    store.delete(b"key-7", 2)
    engine.close()
    c_calls: set[str] = set()
    py_calls: set[str] = set()

    def watch(frame: object, event: str, arg: object) -> None:
        if event == "c_call" and getattr(arg, "__module__", None) == "zeroos.zdb._native":
            c_calls.add(getattr(arg, "__name__", ""))
        elif event == "call":
            py_calls.add(frame.f_code.co_name)  # type: ignore[attr-defined]

    engine = EmbeddedEngine(str(tmp_path / "data"), str(tmp_path / "index"))
    sys.setprofile(watch)
    try:
        store = engine.open("photos")  # type: ignore[assignment]
    finally:
        sys.setprofile(None)
    try:
        assert store is not None
        assert store.entries == 199
        assert store.chain_leaf(b"key-3") == 4
        assert {"index_valid_end", "scan_leaves", "apply_key_leaves"} <= c_calls
        twins = {"py_index_valid_end", "py_scan_leaves", "py_apply_key_leaves", "key_leaves_of"}
        assert not py_calls & twins
    finally:
        engine.close()
