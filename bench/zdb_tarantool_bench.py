#!/usr/bin/env python3
"""zero-db's Tarantool engine beside the embedded engine and redis-server, in one run.

`python bench/zdb_tarantool_bench.py [--quick] [--replicas]`

redis-benchmark (100-byte SET/GET over a 100,000-key space, 50 clients) unpipelined and with
-P 16, best of N rounds, against: redis-server, `zos zdb serve` (embedded engine) and
`zos zdb serve --engine tarantool` on one local Tarantool instance (and, with --replicas, on a
3-member replica set where every write waits for a second copy). Prints a table with each
figure's ratio to the embedded engine; never fails on a number. Target: Tarantool >= 0.5x
embedded unpipelined.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

from zeroos.common.harness import Child, zos_serve
from zeroos.testing import free_port

HOST = "127.0.0.1"
KEYSPACE = 100_000
TARGET = 0.5


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def zdb(root: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    """`zos zdb serve` on a free port under root, once its ready file names the port."""
    root.mkdir(parents=True, exist_ok=True)
    argv = zos_serve("zdb", "--port", "0", "--data", str(root / "data"),
                     "--index", str(root / "index"), *args)  # fmt: skip
    child = Child(argv, root / "zdb.ready", log=root / "server.log", name="zero-db").start(60)
    return cast("subprocess.Popen[bytes]", child.proc), child.port


def redis_server(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
         "--dir", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
            return proc, port
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def bench(port: int, command: str, requests: int, pipeline: int) -> float:
    cmd = [
        "redis-benchmark", "-h", HOST, "-p", str(port), "-c", "50", "-n", str(requests),
        "-d", "100", "-r", str(KEYSPACE), "-P", str(pipeline), "-t", command, "--csv",
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    lines = [line for line in out.stdout.splitlines() if line.startswith('"')]
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        if row["test"] == command.upper():
            return float(row["rps"])
    log(f"redis-benchmark failed on port {port}: {(out.stderr + out.stdout)[-300:]}")
    return 0.0


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds")
    parser.add_argument("--replicas", action="store_true", help="also a 3-member replica set")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--no-chain", action="store_true", help="run the zero-dbs with --no-chain")
    args = parser.parse_args(argv)
    for tool in ("redis-benchmark", "redis-server", "tarantool"):
        if shutil.which(tool) is None:
            log(f"{tool} is not installed; nothing measured")
            return 0
    from zeroos.zdb.tarantool.instance import start, wait_connected

    rounds = args.rounds or (1 if args.quick else 3)
    requests = 20_000 if args.quick else 100_000
    piped = 100_000 if args.quick else 400_000
    root = Path(tempfile.mkdtemp(prefix="zdb-tt-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    instances = []
    try:
        servers: dict[str, int] = {}
        proc, servers["redis-server"] = redis_server(root)
        procs.append(proc)
        extra = ("--no-chain",) if args.no_chain else ()
        proc, servers["embedded"] = zdb(root / "emb", *extra)
        procs.append(proc)
        tt = start(root / "tt", free_port())
        instances.append(tt)
        secret = ("--tarantool-password-file", str(tt.secret))
        proc, servers["tarantool"] = zdb(
            root / "zt", *extra, "--engine", "tarantool", "--tarantool", tt.address, *secret
        )
        procs.append(proc)
        if args.replicas:
            ports = [free_port() for _ in range(3)]
            addrs = [f"{HOST}:{p}" for p in ports]
            leader = start(root / "r0", ports[0], peers=addrs[1:], password_file=tt.secret)
            instances.append(leader)
            for i in (1, 2):
                peers = [a for j, a in enumerate(addrs) if j not in (0, i)]
                instances.append(
                    start(
                        root / f"r{i}",
                        ports[i],
                        replica_of=addrs[:1],
                        peers=peers,
                        password_file=tt.secret,
                    )
                )
            wait_connected(addrs, leader.credentials())
            proc, servers["tarantool x3"] = zdb(
                root / "zr",
                *extra,
                "--engine",
                "tarantool",
                "--tarantool",
                ",".join(addrs),
                *secret,
            )
            procs.append(proc)
        tests = [("SET", 1, requests), ("GET", 1, requests), ("SET", 16, piped), ("GET", 16, piped)]
        best: dict[tuple[str, int, str], float] = {}
        for r in range(rounds):
            for command, pipeline, count in tests:
                for name, port in servers.items():
                    ops = bench(port, command.lower(), count, pipeline)
                    key = (command, pipeline, name)
                    best[key] = max(best.get(key, 0.0), ops)
                    log(f"round {r + 1}: {name} {command} -P{pipeline}: {ops:,.0f}/s")
        names = list(servers)
        print(f"\nredis-benchmark, 100-byte values, 50 clients, best of {rounds} round(s)")
        print(f"{'test':<12}" + "".join(f"{n:>16}" for n in names) + f"{'tarantool/emb':>15}")
        verdicts = []
        for command, pipeline, _ in tests:
            row = [best[(command, pipeline, n)] for n in names]
            emb = best[(command, pipeline, "embedded")]
            ratio = best[(command, pipeline, "tarantool")] / emb if emb else 0.0
            label = f"{command} -P{pipeline}"
            print(f"{label:<12}" + "".join(f"{v:>16,.0f}" for v in row) + f"{ratio:>14.2f}x")
            if pipeline == 1:
                verdicts.append(f"{command}: {ratio:.2f}x ({'ok' if ratio >= TARGET else 'below'})")
        print(f"\ntarget tarantool >= {TARGET}x embedded unpipelined: " + ", ".join(verdicts))
    finally:
        for proc in procs:
            stop(proc)
        for instance in instances:
            instance.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("ZOS_ZDB_EVENT_LOOP", "uvloop")
    sys.exit(main())
