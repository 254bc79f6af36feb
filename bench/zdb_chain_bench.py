"""The cost of zero-db's chain.

1. Proofs at 1 M leaves: a namespace's log (chain/log.py, the server's own code) is filled with
   1,000,000 SET leaves; then the time to produce and to verify inclusion and consistency
   proofs, and their size.
2. Throughput with the chain on and off: two `zos zdb serve` (one with --no-chain) measured
   with redis-benchmark in the same run, interleaved, each SET/GET pair on a fresh namespace
   (as bench/zdb_bench.py does), 100-byte values, -P 1 and -P 16; the ratio on/off is printed
   (target >= 0.8) with each server's CPU per request.

    python bench/zdb_chain_bench.py [--leaves 1000000] [--requests 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import cast

import redis

from zeroos.common.harness import Child, zos_serve
from zeroos.zdb.chain.log import ChainLog
from zeroos.zdb.chain.merkle import verify_consistency, verify_inclusion
from zeroos.zdb.chain.signing import Identity
from zeroos.zdb.native import NATIVE


def proofs(leaves: int, samples: int = 1000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # as the embedded engine opens it: the store, not the log, maps keys to leaves
        log = ChainLog(tmp, "bench", Identity.generate(), track_latest=False)
        start = time.perf_counter()
        value = b"x" * 100
        for i in range(leaves):
            log.add(False, b"key:%012d" % i, value, i)
            if i % 10_000 == 9_999:
                log.commit()
        log.commit()
        build = time.perf_counter() - start
        print(
            f"log of {log.size:,} leaves built in {build:.1f} s "
            f"({build / leaves * 1e6:.2f} us/leaf)"
        )
        start = time.perf_counter()
        head = log.head()
        print(f"signed head (root + Ed25519): {(time.perf_counter() - start) * 1e3:.2f} ms")
        start = time.perf_counter()
        reopened = ChainLog(tmp, "bench", log.identity, track_latest=False)
        print(f"reopen (scan leaves, rebuild cache): {time.perf_counter() - start:.2f} s")
        reopened.close()
        rng = random.Random(1)
        picks = [rng.randrange(leaves) for _ in range(samples)]
        start = time.perf_counter()
        paths = [log.inclusion(i, head.size) for i in picks]
        gen = (time.perf_counter() - start) / samples
        start = time.perf_counter()
        for i, path in zip(picks, paths, strict=True):
            verify_inclusion(i, head.size, log.leaf_hash(i), path, head.root)
        ver = (time.perf_counter() - start) / samples
        size = sum(len(p) for p in paths) / samples
        print(
            f"inclusion proof at {leaves:,}: generate {gen * 1e3:.3f} ms, "
            f"verify {ver * 1e3:.3f} ms, "
            f"{size:.1f} hashes ({size * 32:.0f} bytes)"
        )
        olds = [rng.randrange(1, leaves) for _ in range(samples // 10)]
        start = time.perf_counter()
        cons = [(o, log.root(o), log.consistency(o, head.size)) for o in olds]
        gen = (time.perf_counter() - start) / len(olds)
        start = time.perf_counter()
        for o, root, path in cons:
            verify_consistency(o, head.size, root, head.root, path)
        ver = (time.perf_counter() - start) / len(olds)
        print(
            f"consistency proof (old root + proof) at {leaves:,}: generate {gen * 1e3:.3f} ms, "
            f"verify {ver * 1e3:.3f} ms"
        )
        log.close()


def _server(root: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    """`zos zdb serve` on a free port under root, once its ready file names the port."""
    root.mkdir(parents=True, exist_ok=True)
    argv = zos_serve("zdb", "--port", "0", "--data", str(root / "data"),
                     "--index", str(root / "index"), *args)  # fmt: skip
    child = Child(argv, root / "zdb.ready", name="zero-db").start(30)
    return cast("subprocess.Popen[bytes]", child.proc), child.port


BENCH_DB = "1"  # redis-benchmark --dbnum 1 selects namespace "1": a fresh one per run


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rps(port: int, test: str, requests: int, pipeline: int) -> float:
    out = subprocess.run(
        [
            "redis-benchmark",
            "-p",
            str(port),
            "-t",
            test,
            "-n",
            str(requests),
            "-P",
            str(pipeline),
            "-c",
            "50",
            "-d",
            "100",
            "-r",
            "100000",
            "--dbnum",
            BENCH_DB,
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    match = re.findall(r"([\d.]+) requests per second", out)
    return float(match[-1]) if match else 0.0


def _run_pair(
    server: tuple[subprocess.Popen[bytes], int], requests: int, pipeline: int
) -> dict[str, tuple[float, float]]:
    """SET then GET on a fresh namespace: {test: (ops/s, server cpu us per request)}."""
    proc, port = server
    client = redis.Redis(port=port, socket_timeout=60, protocol=2)
    try:
        client.execute_command("NSNEW", BENCH_DB)  # type: ignore[no-untyped-call]
        out = {}
        for test in ("set", "get"):
            cpu = _cpu_seconds(proc.pid)
            rps = _rps(port, test, requests, pipeline)
            out[test] = (rps, (_cpu_seconds(proc.pid) - cpu) / requests * 1e6)
        client.execute_command("NSDEL", BENCH_DB)  # type: ignore[no-untyped-call]
        return out
    finally:
        client.close()


def throughput(requests: int, rounds: int) -> None:
    """Chain on against off in one run: interleaved, a fresh namespace each time, best of N."""
    with tempfile.TemporaryDirectory() as tmp:
        servers = {"on": _server(Path(tmp) / "on"), "off": _server(Path(tmp) / "off", "--no-chain")}
        best: dict[tuple[str, str, int], tuple[float, float]] = {}
        try:
            for r in range(rounds):
                for pipeline, n in ((1, requests), (16, 3 * requests)):
                    order = ["on", "off"] if r % 2 == 0 else ["off", "on"]
                    for name in order:
                        for test, (rps, cpu) in _run_pair(servers[name], n, pipeline).items():
                            key = (name, test, pipeline)
                            old = best.get(key, (0.0, float("inf")))
                            best[key] = (max(old[0], rps), min(old[1], cpu))
        finally:
            for proc, _port in servers.values():
                proc.terminate()
                proc.wait()
        print(
            f"chain on against --no-chain, same run, {rounds} interleaved rounds "
            "(ops/s: best; cpu: lowest, server us per request)"
        )
        print(f"{'test':<12}{'chain on':>18}{'chain off':>18}{'on/off':>9}{'target':>10}")
        for test in ("set", "get"):
            for pipeline in (1, 16):
                a, ca = best[("on", test, pipeline)]
                b, cb = best[("off", test, pipeline)]
                ratio = a / b if b else 0.0
                verdict = ("ok" if ratio >= 0.8 else "BELOW") if test == "set" else ""
                print(
                    f"{test.upper() + f' -P {pipeline}':<12}{a:>10,.0f} ({ca:4.1f}){b:>10,.0f} "
                    f"({cb:4.1f}){ratio:>9.2f}{verdict:>10}"
                )
        for pipeline, n in ((1, requests), (16, 3 * requests)):
            distinct = 100_000 * (1 - math.exp(-n / 100_000))
            print(
                f"SET -P {pipeline}: about {1 - distinct / n:.0%} of the {n:,} SETs rewrite a key "
                "with its own value (a no-op in 0-db)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("ZOS_ZDB_EVENT_LOOP", "uvloop")
    native = "on" if NATIVE else "OFF (not built: the chain's hashing runs in Python)"
    print(f"# zero-db chain benchmark ({os.cpu_count()} cpus, C module {native})")
    proofs(args.leaves)
    if not args.skip_throughput:
        throughput(args.requests, args.rounds)


if __name__ == "__main__":
    main()
