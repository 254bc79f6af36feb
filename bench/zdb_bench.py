#!/usr/bin/env python3
"""Benchmark our zero-db server against redis-server: `python bench/zdb_bench.py [--quick]`.

One run measures, on loopback:

* throughput with redis-benchmark (SET/GET of 100-byte values, unpipelined and with -P 16,
  and SET of 1 MiB values), ours and redis interleaved, best of N rounds, with the CPU time
  each server spent per request (from /proc/PID/stat);
* the anonymous memory (RssAnon) one key of the index costs, over 1,000,000 keys;
* the time a server with those keys takes to answer again after SIGTERM and after kill -9.

It prints a report, writes it as JSON to bench/results/, and never fails on a number.
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import hiredis

from zeroos.common.service import read_ready_file
from zeroos.testing import free_port
from zeroos.zdb.native import NATIVE

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
KEYSPACE = 100_000  # redis-benchmark -r: random keys key:000000000000 .. key:000000099999
BENCH_DB = 1  # redis-benchmark --dbnum: a fresh namespace (ours) / database (redis) per run
BENCH_TIMEOUT = 600.0
KEY_FORMAT = b"key:%012d"
KEY_LEN = len(KEY_FORMAT % 0)
MEMORY_TARGET = 150  # bytes per key, on top of the key itself
RESTART_TARGET = 5.0  # seconds
IDLE_SHARE = 0.05  # a sampling interval in which the server used less CPU than this: a stall


# -- small helpers -------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of proc(5)); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_memory(pid: int) -> dict[str, int]:
    """The Rss*/Vm* lines of /proc/PID/status, in bytes."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            name, _, rest = line.partition(":")
            if name.startswith(("Rss", "VmRSS", "VmHWM")):
                out[name] = int(rest.split()[0]) * 1024
    return out


def command_output(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def encode(*args: bytes | str | int) -> bytes:
    """One command in RESP."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(raw), raw))
    return b"".join(parts)


class Resp:
    """A minimal RESP client on a raw socket (pipelining is just sending more)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, count: int) -> list[Any]:
        replies: list[Any] = []
        while len(replies) < count:
            reply = self.reader.gets()
            if reply is False:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                self.reader.feed(chunk)
            else:
                replies.append(reply)
        return replies

    def call(self, *args: bytes | str | int) -> Any:
        self.send(encode(*args))
        return self.read(1)[0]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def call(port: int, *args: bytes | str | int) -> Any:
    conn = Resp(port)
    try:
        return conn.call(*args)
    finally:
        conn.close()


# -- the two servers -----------------------------------------------------------------------


class Server:
    """A server process in its own session (a Ctrl-C in the terminal does not reach it)."""

    name = "?"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.started_at = 0.0  # time.monotonic() just before the process was created
        self.log_offset = 0  # where this start's lines begin in the log
        self.exit_codes: list[int] = []

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> list[str]:
        raise NotImplementedError

    def wait_listening(self, deadline: float) -> None:
        raise NotImplementedError

    def start(self, timeout: float = 120.0) -> Server:
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as logfile:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                self.command(), stdout=logfile, stderr=logfile, start_new_session=True
            )
        self.wait_listening(self.started_at + timeout)
        return self

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")

    def stop(self, timeout: float = 60.0) -> float:
        """SIGTERM and wait; returns the seconds the process took to exit."""
        if self.proc is None:
            return 0.0
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop in {timeout:.0f}s after SIGTERM: killing it")
            self.proc.kill()
            code = self.proc.wait()
        self.exit_codes.append(code)
        self.proc = None
        return time.monotonic() - start

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.exit_codes.append(self.proc.wait())
            self.proc = None


class ZdbServer(Server):
    """`zos zdb serve` on a free port, with its data and index under root."""

    name = "zdb"
    extra_args: tuple[str, ...] = ()  # from --server-arg, e.g. --no-chain

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "zeroos.cli.main", "zdb", "serve", "--listen", HOST,
            "--port", "0", "--data", str(self.root / "data"), "--index", str(self.root / "index"),
            "--ready-file", str(self.ready_file), *self.extra_args,
        ]  # fmt: skip

    @property
    def ready_file(self) -> Path:
        return self.root / "zdb.ready"

    def wait_listening(self, deadline: float) -> None:
        # the ready file (zeroos.common.service), written once it listens, names its port
        while time.monotonic() < deadline:
            ready = read_ready_file(self.ready_file)
            if ready is not None and ready.pid == self.pid:
                self.port = ready.port
                return
            self._check_alive()
            time.sleep(0.005)
        raise RuntimeError(f"zdb did not start in time:\n{self.log.read_text()[-2000:]}")

    def problems(self) -> list[str]:
        """The warning and error lines of the server's log."""
        if not self.log.exists():
            return []
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if re.search(r"level=(warning|error|critical)", line)]


class RedisServer(Server):
    """The reference: redis-server without persistence, on a free port."""

    name = "redis"

    def command(self) -> list[str]:
        self.port = free_port()
        return [
            "redis-server", "--bind", HOST, "--port", str(self.port), "--save", "",
            "--appendonly", "no", "--dir", str(self.root), "--daemonize", "no",
        ]  # fmt: skip

    def wait_listening(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(OSError):
                if call(self.port, "PING") == b"PONG":
                    return
            time.sleep(0.01)
        raise RuntimeError(f"redis-server did not start in time:\n{self.log.read_text()}")


# -- throughput ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """Tests run on one fresh namespace/database: SET fills it, GET reads it back."""

    label: str
    commands: tuple[str, ...]
    size: int
    requests: int
    clients: int
    pipeline: int
    target: float  # the issue's target for ours/redis ops/s

    def test_name(self, command: str) -> str:
        size = "1MiB" if self.size == 1 << 20 else f"{self.size}B"
        pipe = f" -P{self.pipeline}" if self.pipeline > 1 else ""
        return f"{command.upper()} {size}{pipe}"


@dataclass
class Run:
    """One redis-benchmark invocation against one server."""

    ops: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    cpu_us_per_op: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    idle_intervals: int = 0  # sampling intervals in which the server hardly ran (stalls)
    min_busy: float = 1.0  # lowest share of one CPU the server used in an interval
    error: str = ""


class CpuSampler:
    """Samples a process's CPU time in a thread, to see stalls inside a run."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        with contextlib.suppress(OSError):
            self.samples.append((time.monotonic(), cpu_seconds(self.pid)))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def busy_shares(self) -> list[float]:
        """CPU share per full interval, leaving out the first and last (connects, teardown)."""
        pairs = zip(self.samples, self.samples[1:], strict=False)
        shares = [(c1 - c0) / (t1 - t0) for (t0, c0), (t1, c1) in pairs if t1 > t0]
        return shares[1:-1]


def parse_csv(text: str) -> dict[str, dict[str, float]]:
    """redis-benchmark --csv: {"SET": {"rps": ..., "p99_latency_ms": ...}}."""
    lines = [line for line in text.splitlines() if line.startswith('"')]
    out: dict[str, dict[str, float]] = {}
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        out[row["test"]] = {k: float(v) for k, v in row.items() if k != "test"}
    return out


def benchmark(server: Server, group: Group, command: str) -> Run:
    cmd = [
        "redis-benchmark", "-h", HOST, "-p", str(server.port), "-c", str(group.clients),
        "-n", str(group.requests), "-d", str(group.size), "-r", str(KEYSPACE),
        "-P", str(group.pipeline), "-t", command, "--dbnum", str(BENCH_DB), "--csv",
    ]  # fmt: skip
    run = Run()
    start = time.monotonic()
    with CpuSampler(server.pid) as sampler:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=BENCH_TIMEOUT)
        except subprocess.TimeoutExpired:
            out = None
    run.wall_s = time.monotonic() - start
    run.cpu_s = sampler.samples[-1][1] - sampler.samples[0][1]
    shares = sampler.busy_shares()
    run.idle_intervals = sum(share < IDLE_SHARE for share in shares)
    run.min_busy = min(shares, default=1.0)
    if out is None:
        run.error = f"redis-benchmark did not finish in {BENCH_TIMEOUT:.0f}s"
        return run
    rows = parse_csv(out.stdout).get(command.upper())
    if out.returncode != 0 or rows is None:
        text = (out.stderr + out.stdout).replace("WARNING: Could not fetch server CONFIG", "")
        run.error = f"exit {out.returncode}: {text.strip()[-500:]}"
        return run
    run.ops = rows["rps"]
    run.cpu_us_per_op = run.cpu_s * 1e6 / group.requests
    run.latency_ms = {k.removesuffix("_latency_ms"): v for k, v in rows.items() if k != "rps"}
    return run


def reset_db(server: Server) -> None:
    """An empty namespace (ours) or database (redis) for redis-benchmark --dbnum."""
    if isinstance(server, ZdbServer):
        with contextlib.suppress(hiredis.ReplyError):
            drop_db(server)
        reply = call(server.port, "NSNEW", BENCH_DB)
    else:
        reply = call(server.port, "FLUSHALL")
    if reply != b"OK":
        raise RuntimeError(f"{server.name}: cannot reset the benchmark database: {reply!r}")


def drop_db(server: Server) -> None:
    """Give back the disk and memory the benchmark keys took."""
    if isinstance(server, ZdbServer):
        reply = call(server.port, "NSDEL", BENCH_DB)
        if isinstance(reply, hiredis.ReplyError):
            raise reply
    else:
        call(server.port, "FLUSHALL")


def db_size(server: Server) -> int:
    conn = Resp(server.port)
    try:
        conn.call("SELECT", BENCH_DB)
        return int(conn.call("DBSIZE"))
    finally:
        conn.close()


@dataclass
class TestResult:
    """Every round of one test for both servers."""

    name: str
    target: float
    requests: int
    runs: dict[str, list[Run]] = field(default_factory=lambda: {"zdb": [], "redis": []})
    # DBSIZE after a SET run: redis-benchmark's random keys repeat, so fewer than requests
    keys_after: dict[str, list[int]] = field(default_factory=lambda: {"zdb": [], "redis": []})

    def best(self, server: str) -> Run | None:
        good = [run for run in self.runs[server] if not run.error]
        return max(good, key=lambda run: run.ops) if good else None

    def best_cpu(self, server: str) -> float | None:
        good = [run.cpu_us_per_op for run in self.runs[server] if not run.error]
        return min(good) if good else None

    def expected_keys(self) -> float:
        """Distinct keys `requests` uniform draws from KEYSPACE give, on average."""
        return KEYSPACE * (1 - (1 - 1 / KEYSPACE) ** self.requests)


def run_group(server: Server, group: Group, results: dict[str, TestResult]) -> None:
    reset_db(server)
    try:
        for command in group.commands:
            name = group.test_name(command)
            run = benchmark(server, group, command)
            results[name].runs[server.name].append(run)
            what = run.error or f"{run.ops:,.0f} ops/s, {run.cpu_us_per_op:.1f} cpu-us/op"
            log(f"  {server.name:5} {name:14} {what}")
            if command == "set":
                results[name].keys_after[server.name].append(db_size(server))
    finally:
        drop_db(server)


def throughput(servers: list[Server], groups: list[Group], rounds: int) -> dict[str, TestResult]:
    results = {
        group.test_name(command): TestResult(group.test_name(command), group.target, group.requests)
        for group in groups
        for command in group.commands
    }
    for round_no in range(rounds):
        log(f"throughput round {round_no + 1}/{rounds}")
        # A/B/A/B, and who goes first alternates between rounds
        order = servers if round_no % 2 == 0 else servers[::-1]
        for group in groups:
            for server in order:
                run_group(server, group, results)
    return results


# -- index memory and restart --------------------------------------------------------------


def load_keys(port: int, count: int, batch: int = 1000, value_size: int = 100) -> dict[str, Any]:
    """SET key:%012d for 0 <= i < count, `batch` commands per write, two batches in flight."""
    value = b"v" * value_size
    head = b"*3\r\n$3\r\nSET\r\n$%d\r\n" % KEY_LEN
    tail = b"\r\n$%d\r\n%b\r\n" % (value_size, value)
    conn = Resp(port)
    errors: list[str] = []
    start = time.monotonic()
    pending: list[int] = []
    try:
        for first in range(0, count, batch):
            size = min(batch, count - first)
            keys = (KEY_FORMAT % i for i in range(first, first + size))
            conn.send(b"".join(head + key + tail for key in keys))
            pending.append(size)
            if len(pending) > 1:
                errors += replies_errors(conn.read(pending.pop(0)))
        while pending:
            errors += replies_errors(conn.read(pending.pop(0)))
    finally:
        conn.close()
    seconds = time.monotonic() - start
    return {"keys": count, "seconds": seconds, "ops": count / seconds, "errors": errors[:10]}


def replies_errors(replies: list[Any]) -> list[str]:
    return [str(reply) for reply in replies if isinstance(reply, hiredis.ReplyError)]


def wait_ready(server: ZdbServer, keys: int, timeout: float = 300.0) -> dict[str, float]:
    """Seconds from process creation to the listening line, to PONG, to DBSIZE == keys."""
    out = {"listening_s": time.monotonic() - server.started_at}
    deadline = server.started_at + timeout
    conn: Resp | None = None
    while conn is None:
        try:
            conn = Resp(server.port, timeout=timeout)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)
    try:
        if conn.call("PING") != b"PONG":
            raise RuntimeError("no PONG")
        out["ping_s"] = time.monotonic() - server.started_at
        while (size := int(conn.call("DBSIZE"))) != keys and time.monotonic() < deadline:
            time.sleep(0.01)
        out["dbsize_s"] = time.monotonic() - server.started_at
        out["dbsize"] = size
    finally:
        conn.close()
    return out


def memory_and_restart(root: Path, keys: int, stack: contextlib.ExitStack) -> dict[str, Any]:
    server = ZdbServer(root)
    stack.callback(server.stop)
    log("index memory: starting a fresh server")
    server.start()
    empty = wait_ready(server, 0)
    time.sleep(0.5)
    before = proc_memory(server.pid)
    log(f"index memory: loading {keys:,} keys")
    load = load_keys(server.port, keys)
    log(f"  loaded in {load['seconds']:.1f}s ({load['ops']:,.0f} SET/s)")
    time.sleep(1.0)
    after = proc_memory(server.pid)
    dbsize = int(call(server.port, "DBSIZE"))
    result: dict[str, Any] = {
        "keys": keys,
        "dbsize": dbsize,
        "load": load,
        "empty_start": empty,
        "before": before,
        "after": after,
    }
    result["per_key"] = (after["RssAnon"] - before["RssAnon"]) / keys
    result["per_key_minus_key"] = result["per_key"] - KEY_LEN
    for name, hard in (("restart_term", False), ("restart_kill", True)):
        restart = timed_restart(server, keys, hard=hard)
        grown = restart["memory"]["RssAnon"] - before["RssAnon"]
        restart["per_key"] = grown / keys
        result[name] = restart
    result["exit_codes"] = server.exit_codes
    server.stop()
    result["problems"] = server.problems()
    return result


def timed_restart(server: ZdbServer, keys: int, *, hard: bool) -> dict[str, Any]:
    how = "kill -9" if hard else "SIGTERM"
    log(f"restart: {how}, then start again on the same directories")
    stop_s = 0.0
    if hard:
        server.kill()
    else:
        stop_s = server.stop()
    server.start(timeout=300.0)
    ready = wait_ready(server, keys)
    time.sleep(0.5)
    memory = proc_memory(server.pid)
    log(f"  ready (DBSIZE {ready['dbsize']:,}) {ready['dbsize_s']:.2f}s after the process started")
    return {"how": how, "stop_s": stop_s, **ready, "memory": memory}


# -- report --------------------------------------------------------------------------------


def machine_facts() -> dict[str, Any]:
    git = ["git", "-C", str(BENCH_DIR.parent)]
    dirty = command_output(*git, "status", "--porcelain", "--untracked-files=no")
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis_server": command_output("redis-server", "--version"),
        "redis_benchmark": command_output("redis-benchmark", "--version"),
        "loadavg_start": os.getloadavg(),
        "git_commit": command_output(*git, "rev-parse", "--short", "HEAD"),
        "git_dirty": bool(dirty and dirty != "?"),
        # without zeroos.zdb._native a SET costs about twice the CPU: a figure must say which
        "zdb_native": NATIVE,
    }


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def print_machine(facts: dict[str, Any]) -> None:
    load = " ".join(f"{x:.2f}" for x in facts["loadavg_start"])
    print(f"machine: {facts['nproc']} CPUs ({facts['cpus_usable']} usable), {facts['cpu_model']}")
    print(f"python {facts['python']}, kernel {facts['kernel']}, load average {load}")
    print(f"{facts['redis_server']}")
    dirty = " + uncommitted changes" if facts["git_dirty"] else ""
    native = "on" if facts["zdb_native"] else "OFF (not built: writes run in Python)"
    print(f"zeroos at {facts['git_commit']}{dirty}, C module {native}")
    print()


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_throughput(results: dict[str, TestResult], rounds: int) -> None:
    print(f"throughput: best of {rounds} round(s); cpu-us/op: lowest of the rounds")
    head = (
        "test",
        "ours ops/s",
        "redis ops/s",
        "ours/redis",
        "target",
        "",
        "ours cpu-us/op",
        "redis cpu-us/op",
    )
    print("{:<15}{:>12}{:>13}{:>12}{:>9} {:<6}{:>16}{:>17}".format(*head))
    for result in results.values():
        ours, ref = result.best("zdb"), result.best("redis")
        ratio = ours.ops / ref.ops if ours and ref and ref.ops else None
        verdict = "-" if ratio is None else ("ok" if ratio >= result.target else "BELOW")
        print(
            f"{result.name:<15}{fmt(ours and ours.ops, ',.0f'):>12}"
            f"{fmt(ref and ref.ops, ',.0f'):>13}{fmt(ratio, '.3f'):>11}x"
            f"{'>= ' + format(result.target, '.2f'):>9} {verdict:<6}"
            f"{fmt(result.best_cpu('zdb'), '.2f'):>16}{fmt(result.best_cpu('redis'), '.2f'):>17}"
        )
    print()
    print("latency of the best round (ms):")
    print("{:<15}{:>24}{:>24}".format("test", "ours p50/p99/max", "redis p50/p99/max"))
    for result in results.values():
        cells = [latencies(result.best(name)) for name in ("zdb", "redis")]
        print(f"{result.name:<15}{cells[0]:>24}{cells[1]:>24}")
    print()


def latencies(run: Run | None) -> str:
    if run is None:
        return "-"
    lat = run.latency_ms
    return f"{lat.get('p50', 0):.2f}/{lat.get('p99', 0):.2f}/{lat.get('max', 0):.1f}"


def print_memory(mem: dict[str, Any]) -> None:
    mib = 1 << 20
    before, after = mem["before"], mem["after"]
    verdict = "ok" if mem["per_key_minus_key"] <= MEMORY_TARGET else "BELOW TARGET"
    print(
        f"index memory, {mem['keys']:,} keys of {KEY_LEN} bytes, 100-byte values "
        f"(DBSIZE {mem['dbsize']:,}; loaded at {mem['load']['ops']:,.0f} SET/s):"
    )
    for label, key in (("RssAnon", "RssAnon"), ("RssFile", "RssFile"), ("VmRSS", "VmRSS")):
        print(
            f"  {label:8} before {before.get(key, 0) / mib:8.1f} MiB   "
            f"after {after.get(key, 0) / mib:8.1f} MiB"
        )
    print(
        f"  {mem['per_key']:.1f} bytes/key of RssAnon; minus the key: "
        f"{mem['per_key_minus_key']:.1f} (target <= {MEMORY_TARGET} + key) {verdict}"
    )
    restart = mem["restart_term"]["per_key"]
    print(
        f"  after a restart (index rebuilt from disk): {restart:.1f} bytes/key of RssAnon, "
        f"minus the key: {restart - KEY_LEN:.1f}"
    )
    print()


def print_restart(mem: dict[str, Any]) -> None:
    print(
        f"restart with {mem['keys']:,} keys (seconds from process start; target < "
        f"{RESTART_TARGET:.0f}s to DBSIZE):"
    )
    empty = mem["empty_start"]
    print(
        f"  {'empty server':13} listening {empty['listening_s']:6.2f}  PONG {empty['ping_s']:6.2f}"
    )
    for key in ("restart_term", "restart_kill"):
        r = mem[key]
        verdict = "ok" if r["dbsize_s"] < RESTART_TARGET and r["dbsize"] == mem["keys"] else "SLOW"
        stop = f"  (stop took {r['stop_s']:.2f}s)" if r["how"] == "SIGTERM" else ""
        anon = r["memory"].get("RssAnon", 0) / (1 << 20)
        print(
            f"  {r['how']:13} listening {r['listening_s']:6.2f}  PONG {r['ping_s']:6.2f}  "
            f"DBSIZE={r['dbsize']:,} {r['dbsize_s']:6.2f} {verdict}{stop}  RssAnon {anon:.0f} MiB"
        )
    print()


def anomalies(
    results: dict[str, TestResult], mem: dict[str, Any] | None, zdb: ZdbServer
) -> list[str]:
    """Things worth a look: errors, stalls, lost keys, unclean exits, log warnings."""
    notes: list[str] = []
    for result in results.values():
        for name, runs in result.runs.items():
            for i, run in enumerate(runs):
                if run.error:
                    notes.append(f"{name} {result.name} round {i + 1}: {run.error}")
                if run.idle_intervals:
                    notes.append(
                        f"{name} {result.name} round {i + 1}: {run.idle_intervals} x 0.25s "
                        f"with the server < {IDLE_SHARE:.0%} busy (stall?); "
                        f"max latency {run.latency_ms.get('max', 0):.0f} ms"
                    )
        expected = result.expected_keys()
        for name, counts in result.keys_after.items():
            if any(abs(count - expected) > 0.02 * expected for count in counts):
                notes.append(
                    f"{name} {result.name}: DBSIZE after SET {counts}, "
                    f"expected about {expected:,.0f} distinct keys"
                )
    if mem:
        if mem["load"]["errors"]:
            notes.append(f"loader got error replies: {mem['load']['errors']}")
        if mem["dbsize"] != mem["keys"]:
            notes.append(f"DBSIZE after loading: {mem['dbsize']} (expected {mem['keys']})")
        for line in mem["problems"]:
            notes.append(f"memory server log: {line}")
        for name in ("restart_term", "restart_kill"):
            grown = mem[name]["per_key"]
            if grown > 1.5 * mem["per_key"]:
                notes.append(
                    f"RssAnon after {mem[name]['how']} + restart: {grown:.0f} bytes/key, "
                    f"{grown / mem['per_key']:.1f}x the {mem['per_key']:.0f} after loading live"
                )
        codes = mem["exit_codes"]
        if any(code not in (0, -signal.SIGKILL) for code in codes):
            notes.append(f"memory server exit codes: {codes}")
    notes += [f"throughput server log: {line}" for line in zdb.problems()]
    if any(code != 0 for code in zdb.exit_codes):
        notes.append(f"throughput server exit codes: {zdb.exit_codes}")
    return notes


def write_json(report: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"zdb-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


# -- main ----------------------------------------------------------------------------------


def plan(args: argparse.Namespace) -> list[Group]:
    scale = 0.5 if args.quick else 1.0
    small = int(args.requests * scale)
    piped = int(args.pipelined_requests * scale)
    big = int(args.big_requests * (0.25 if args.quick else 1.0))
    return [
        Group("100B", ("set", "get"), 100, small, 50, 1, 0.8),
        Group("100B -P16", ("set", "get"), 100, piped, 50, 16, 0.25),
        Group("1MiB", ("set",), 1 << 20, big, args.big_clients, 1, 0.2),
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, fewer requests")
    parser.add_argument("--rounds", type=int, help="rounds of throughput tests (default 3)")
    parser.add_argument("--requests", type=int, default=100_000, help="-n, unpipelined")
    parser.add_argument("--pipelined-requests", type=int, default=300_000, help="-n with -P 16")
    parser.add_argument("--big-requests", type=int, default=2000, help="-n of the 1 MiB SET")
    parser.add_argument("--big-clients", type=int, default=10, help="-c of the 1 MiB SET")
    parser.add_argument("--keys", type=int, default=1_000_000, help="keys of the memory test")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true", help="skip memory and restart")
    parser.add_argument("--keep", action="store_true", help="keep the servers' directories")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for our server, repeatable (e.g. --server-arg=--no-chain)",
    )
    args = parser.parse_args(argv)
    ZdbServer.extra_args = tuple(args.server_arg)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    return args


def check_tools() -> None:
    for tool in ("redis-server", "redis-benchmark"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found on PATH (apt-get install redis-server redis-tools)")


def on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_tools()
    signal.signal(signal.SIGTERM, on_sigterm)
    facts = machine_facts()
    print_machine(facts)
    groups = plan(args)
    report: dict[str, Any] = {
        "machine": facts,
        "args": vars(args),
        "groups": [asdict(g) for g in groups],
    }
    with contextlib.ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="zdb-bench-"))
        if args.keep:
            log(f"keeping the servers' directories under {root}")
        else:
            stack.callback(shutil.rmtree, root, ignore_errors=True)
        zdb, redis = ZdbServer(root / "zdb"), RedisServer(root / "redis")
        results: dict[str, TestResult] = {}
        if not args.skip_throughput:
            for server in (zdb, redis):
                stack.callback(server.stop)
                server.start()
            log(f"zdb pid {zdb.pid} port {zdb.port}; redis pid {redis.pid} port {redis.port}")
            results = throughput([zdb, redis], groups, args.rounds)
            zdb.stop()
            redis.stop()
            report["throughput"] = {name: asdict(r) for name, r in results.items()}
            print_throughput(results, args.rounds)
        mem = None
        if not args.skip_memory:
            mem = memory_and_restart(root / "zdb-memory", args.keys, stack)
            report["memory"] = mem
            print_memory(mem)
            print_restart(mem)
        facts["loadavg_end"] = os.getloadavg()
        notes = anomalies(results, mem, zdb)
        report["anomalies"] = notes
        print("load average at the end: " + " ".join(f"{x:.2f}" for x in facts["loadavg_end"]))
        print("anomalies: " + ("none" if not notes else ""))
        for note in notes:
            print(f"  - {note}")
        print(f"results: {write_json(report)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
