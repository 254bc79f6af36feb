"""`zos zdb compact`: reclaims the space of old versions, keeps current values and settings,
refuses to run beside a server, and a crash at any point is repaired on the next start."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zeroos.zdb.embedded import EmbeddedEngine
from zeroos.zdb.embedded import compact as compact_module
from zeroos.zdb.embedded.format import data_name

from .rawsock import RawConn, encode, is_error

MIB = 1024 * 1024


def run_compact(server, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
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
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def error_lines(stderr: str) -> list[str]:
    """What the command printed on stderr, blank lines left out."""
    return [line for line in stderr.splitlines() if line.strip()]


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def call_ok(conn: RawConn, *args) -> object:
    reply = conn.call(*args)
    assert not is_error(reply), f"{args[0]}: {reply}"
    return reply


def pipeline(conn: RawConn, commands: list[tuple]) -> list[object]:
    conn.send(b"".join(encode(*c) for c in commands))
    return [conn.reply() for _ in commands]


def scan_all(conn: RawConn) -> list[tuple[bytes, int]]:
    out = []
    reply = conn.call("SCAN")
    while not is_error(reply, "No more data"):
        cursor, entries = reply
        out.extend((e[0], e[1]) for e in entries)
        reply = conn.call("SCAN", cursor)
    return out


def nsinfo(conn: RawConn, ns: str) -> dict[str, str]:
    text = call_ok(conn, "NSINFO", ns).decode()
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def fill_with_garbage(conn: RawConn, rng: random.Random, keys: int = 200, rounds: int = 3) -> dict:
    """Write keys, overwrite them all several times, delete a third: mostly old versions."""
    model: dict[bytes, bytes] = {}
    for _ in range(rounds):
        cmds = []
        for i in range(keys):
            value = rng.randbytes(rng.randrange(2000, 12000))
            cmds.append(("SET", b"key-%04d" % i, value))
            model[b"key-%04d" % i] = value
        for reply, cmd in zip(pipeline(conn, cmds), cmds, strict=True):
            assert reply == cmd[1], reply
    dels = [("DEL", b"key-%04d" % i) for i in range(0, keys, 3)]
    assert pipeline(conn, dels) == [b"OK"] * len(dels)
    for _, key in dels:
        del model[key]
    return model


def check_model(conn: RawConn, model: dict[bytes, bytes], keys: int = 200) -> None:
    assert conn.call("DBSIZE") == len(model)
    for i in range(keys):
        key = b"key-%04d" % i
        assert conn.call("GET", key) == model.get(key)
        if key in model:
            assert conn.call("CHECK", key) == 1


# -- what compaction does -------------------------------------------------------------------
def test_compaction_reclaims_space_and_keeps_values_and_settings(zdb_factory):
    server = zdb_factory("--datasize", "1M")
    rng = random.Random("compact")
    with RawConn(server.port) as conn:
        model = fill_with_garbage(conn, rng)
        call_ok(conn, "NSNEW", "other")
        for prop, value in (
            ("password", "pw"),
            ("maxsize", "5000000"),
            ("public", "0"),
            ("worm", "1"),
        ):
            call_ok(conn, "NSSET", "other", prop, value)
        call_ok(conn, "SELECT", "other", "pw")
        other = {b"key-%04d" % i: rng.randbytes(3000) for i in range(50)}  # worm: no overwrites
        for key, value in other.items():
            call_ok(conn, "SET", key, value)
        info_before = nsinfo(conn, "other")
        call_ok(conn, "SELECT", "default")
        order = scan_all(conn)
        default_before = nsinfo(conn, "default")
    assert server.stop() == 0
    data_before = folder_size(server.datadir / "default")
    index_before = folder_size(server.indexdir / "default")
    live = sum(map(len, model.values()))
    assert data_before > 3 * live

    out = run_compact(server)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert "default" in out.stdout  # the summary table
    assert "other" in out.stdout

    data_after = folder_size(server.datadir / "default")
    assert data_after < data_before / 2
    assert live <= data_after < live * 1.1  # current values and their small headers
    assert folder_size(server.indexdir / "default") < index_before
    # no build or old folders are left behind
    for root in (server.datadir, server.indexdir):
        assert sorted(os.listdir(root)) == sorted(n for n in os.listdir(root) if "~" not in n), (
            os.listdir(root)
        )

    server.start()
    with RawConn(server.port) as conn:
        check_model(conn, model)
        assert scan_all(conn) == order  # same walk order as before
        after = nsinfo(conn, "default")
        assert after["entries"] == default_before["entries"]
        assert after["data_size_bytes"] == default_before["data_size_bytes"]
        assert int(after["disk_size_bytes"]) < int(default_before["disk_size_bytes"]) / 2
        info_after = nsinfo(conn, "other")
        for field in (
            "entries",
            "public",
            "worm",
            "password",
            "data_limits_bytes",
            "data_size_bytes",
        ):
            assert info_after[field] == info_before[field], field
        assert info_after["password"] == "yes"
        assert is_error(conn.call("SELECT", "other", "wrong"), "Access denied")
        call_ok(conn, "SELECT", "other", "pw")
        check_model(conn, other, keys=50)
        assert is_error(conn.call("SET", b"key-0001", b"x"), "Namespace is protected by worm mode")
        # history is dropped: the current version has no older one
        call_ok(conn, "SELECT", "default")
        assert conn.call("HISTORY", b"key-0001")[0] is None
        # and the namespace keeps working: writes, overwrites, rotation
        for i in range(200):
            call_ok(conn, "SET", b"new-%d" % i, b"n" * 20_000)
        assert conn.call("GET", b"new-199") == b"n" * 20_000


def test_compaction_of_one_namespace(zdb_factory):
    server = zdb_factory()
    with RawConn(server.port) as conn:
        for ns in ("a", "b"):
            call_ok(conn, "NSNEW", ns)
            call_ok(conn, "SELECT", ns)
            for i in range(5):
                call_ok(conn, "SET", b"k", b"%s version %d " % (ns.encode(), i) * 500)
    server.stop()
    sizes = {ns: folder_size(server.datadir / ns) for ns in ("a", "b")}
    out = run_compact(server, "-n", "a")
    assert out.returncode == 0, out.stderr
    assert folder_size(server.datadir / "a") < sizes["a"] / 3
    assert folder_size(server.datadir / "b") == sizes["b"]
    out = run_compact(server, "-n", "nosuch")
    assert out.returncode != 0
    assert "nosuch" in out.stderr
    assert "Traceback" not in out.stderr
    server.start()
    with RawConn(server.port) as conn:
        for ns in ("a", "b"):
            call_ok(conn, "SELECT", ns)
            assert conn.call("GET", b"k") == b"%s version 4 " % ns.encode() * 500


def test_compaction_keeps_the_bytes_recovery_cut_aside(zdb_factory):
    server = zdb_factory()
    with RawConn(server.port) as conn:
        for i in range(5):
            call_ok(conn, "SET", b"k", b"version %d " % i * 500)
    server.stop()
    # what recovery kept of a torn tail (recovery.py) is for a person to look at
    kept = server.datadir / "default" / "cut-00000-1234-1700000000"
    kept.write_bytes(b"torn bytes")
    out = run_compact(server)
    assert out.returncode == 0, out.stderr
    assert kept.read_bytes() == b"torn bytes"
    server.start()
    with RawConn(server.port) as conn:
        assert conn.call("GET", b"k") == b"version 4 " * 500


def test_compaction_of_an_empty_store(zdb_factory):
    server = zdb_factory()
    with RawConn(server.port) as conn:
        call_ok(conn, "SET", b"k", b"v")
        call_ok(conn, "DEL", b"k")
    server.stop()
    out = run_compact(server)
    assert out.returncode == 0, out.stderr
    server.start()
    with RawConn(server.port) as conn:
        assert conn.call("DBSIZE") == 0
        assert is_error(conn.call("SCAN"), "No more data")
        assert call_ok(conn, "SET", b"k", b"again") == b"k"


def test_compaction_keeps_sequential_ids_increasing(zdb_factory):
    # ids of deleted entries are never given out again, compaction or not
    server = zdb_factory("--mode", "seq")
    with RawConn(server.port) as conn:
        ids = [call_ok(conn, "SET", b"", b"value %d" % i) for i in range(5)]
        assert [int.from_bytes(i, "little") for i in ids] == [0, 1, 2, 3, 4]
        call_ok(conn, "DEL", ids[4])
        call_ok(conn, "DEL", ids[3])
    server.stop()
    out = run_compact(server)
    assert out.returncode == 0, out.stderr
    server.start()
    with RawConn(server.port) as conn:
        new = call_ok(conn, "SET", b"", b"after compaction")
        assert int.from_bytes(new, "little") == 5
        assert conn.call("GET", ids[2]) == b"value 2"
        assert conn.call("GET", ids[4]) is None


def test_compaction_refuses_while_a_server_runs(zdb):
    with RawConn(zdb.port) as conn:
        call_ok(conn, "SET", b"k", b"v1")
        call_ok(conn, "SET", b"k", b"v2")
    before = folder_size(zdb.datadir)
    out = run_compact(zdb)
    assert out.returncode != 0
    lines = error_lines(out.stderr)
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error:"), lines[0]
    assert "in use" in lines[0], lines[0]
    assert "Traceback" not in out.stderr + out.stdout
    assert folder_size(zdb.datadir) == before
    with RawConn(zdb.port) as conn:  # the server is untouched
        assert conn.call("GET", b"k") == b"v2"
        assert conn.call("HISTORY", b"k")[0] is not None


def test_compaction_stops_at_a_corrupt_entry_and_changes_nothing(zdb):
    with RawConn(zdb.port) as conn:
        for i in range(20):
            call_ok(conn, "SET", b"k%d" % i, b"value %d " % i * 50)
        call_ok(conn, "SET", b"k3", b"newer")
    zdb.stop()
    # damage k5's value in the data file
    path = zdb.datadir / "default" / data_name(0)
    raw = bytearray(path.read_bytes())
    at = raw.index(b"value 5 ") + 10
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))
    before = folder_size(zdb.datadir)
    out = run_compact(zdb)
    assert out.returncode != 0
    lines = error_lines(out.stderr)
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error:"), out.stderr
    assert "k5" in lines[0]
    assert "checksum" in lines[0]
    assert "Traceback" not in out.stderr
    assert folder_size(zdb.datadir) == before
    zdb.start()
    with RawConn(zdb.port) as conn:
        reply = conn.call("GET", b"k5")
        assert is_error(reply, "Internal Error: entry of key b'k5' in namespace 'default'"), reply
        assert "fails its checksum" in str(reply), reply
        assert conn.call("GET", b"k6") == b"value 6 " * 50
        assert conn.call("HISTORY", b"k3")[0] is not None  # the old files are still in use
    assert not any("~" in n for n in os.listdir(zdb.datadir) + os.listdir(zdb.indexdir))


# -- crashes in the middle ------------------------------------------------------------------
def _prepare(zdb_factory, rng_name: str):
    server = zdb_factory("--datasize", "1M")
    with RawConn(server.port) as conn:
        model = fill_with_garbage(conn, random.Random(rng_name), keys=120)
    server.stop()
    return server, model


def _no_leftovers(server) -> None:
    for root in (server.datadir, server.indexdir):
        left = [n for n in os.listdir(root) if "~" in n]
        assert left == [], left
    assert not (server.indexdir / "default" / compact_module.COMPLETE).exists()


def _has_history(conn: RawConn) -> bool:
    return conn.call("HISTORY", b"key-0001")[0] is not None


@pytest.mark.parametrize("which", ["both", "data-only", "index-only"])
def test_unfinished_build_is_thrown_away(zdb_factory, which):
    server, model = _prepare(zdb_factory, f"unfinished-{which}")
    size_before = folder_size(server.datadir / "default")
    # a build that crashed before it was COMPLETE: partial copies of the files
    for root, part in ((server.datadir, "data"), (server.indexdir, "index")):
        if which == "both" or which.startswith(part):
            build = root / ("default" + compact_module.BUILD)
            build.mkdir()
            for src in sorted((root / "default").glob("zdb-*"))[:2]:
                (build / src.name).write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    server.start()
    _no_leftovers(server)
    assert folder_size(server.datadir / "default") == size_before
    with RawConn(server.port) as conn:
        check_model(conn, model, keys=120)
        assert _has_history(conn)  # still the old, uncompacted files


def _complete_build(server) -> None:
    """Run compaction in-process and "crash" right after the build is marked COMPLETE."""

    class Crash(Exception):
        pass

    def crash(*args: object) -> None:
        raise Crash

    real = compact_module._swap
    compact_module._swap = crash  # type: ignore[assignment]
    engine = EmbeddedEngine(str(server.datadir), str(server.indexdir))
    try:
        with pytest.raises(Crash):
            compact_module.compact_namespace(engine, "default")
    finally:
        compact_module._swap = real  # type: ignore[assignment]
        engine.close()
    assert (server.indexdir / ("default" + compact_module.BUILD) / compact_module.COMPLETE).exists()


@pytest.mark.parametrize(
    "crash_point",
    ["before-swap", "data-moved-away", "data-swapped", "index-moved-away", "swapped"],
)
def test_complete_build_is_swapped_in_on_start(zdb_factory, crash_point):
    server, model = _prepare(zdb_factory, f"complete-{crash_point}")
    size_before = folder_size(server.datadir / "default")
    _complete_build(server)
    d, i = server.datadir, server.indexdir
    live, build, old = "default", "default" + compact_module.BUILD, "default" + compact_module.OLD
    # replay _swap's renames up to the crash point
    steps = {
        "before-swap": [],
        "data-moved-away": [(d, live, old)],
        "data-swapped": [(d, live, old), (d, build, live)],
        "index-moved-away": [(d, live, old), (d, build, live), (i, live, old)],
        "swapped": [(d, live, old), (d, build, live), (i, live, old), (i, build, live)],
    }[crash_point]
    for root, src, dst in steps:
        os.replace(root / src, root / dst)
    server.start()
    _no_leftovers(server)
    assert folder_size(server.datadir / "default") < size_before / 2
    with RawConn(server.port) as conn:
        check_model(conn, model, keys=120)
        assert not _has_history(conn)  # the compacted files are in use
        call_ok(conn, "SET", b"key-0001", b"after")
    server.restart()
    with RawConn(server.port) as conn:
        model[b"key-0001"] = b"after"
        check_model(conn, model, keys=120)


def test_compaction_killed_while_it_builds(zdb_factory):
    server = zdb_factory("--datasize", "4M")
    rng = random.Random("kill-compaction")
    with RawConn(server.port) as conn:
        model = fill_with_garbage(conn, rng, keys=400, rounds=4)
    server.stop()
    build = server.datadir / ("default" + compact_module.BUILD)
    outcomes = []
    for delay in (0.0, 0.02, 0.05, 0.1, rng.uniform(0, 0.2)):
        proc = subprocess.Popen(
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
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # kill it once the build has started, a little later each round
        deadline = time.monotonic() + 30
        while not build.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        server.start()
        _no_leftovers(server)
        with RawConn(server.port) as conn:
            check_model(conn, model, keys=400)
            outcomes.append(_has_history(conn))
        server.stop()
        if not outcomes[-1]:
            break  # compacted: a later run has no old versions left to drop
    assert outcomes[0] is True, "the first kill came right after the build started"
