"""The cost of zero-db's chain.

1. Proofs at 1 M leaves: a namespace's log (chain/log.py, the server's own code) is filled with
   1,000,000 SET leaves; then the time to produce and to verify inclusion and consistency
   proofs, and their size.
2. Throughput with the chain on and off: two `zos zdb serve` (one with --no-chain) measured
   with redis-benchmark in the same run, SET and GET of 100-byte values, -P 1 and -P 16;
   the ratio on/off is printed (target >= 0.8).

    python bench/zdb_chain_bench.py [--leaves 1000000] [--requests 200000]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zeroos.zdb.chain.log import ChainLog
from zeroos.zdb.chain.merkle import verify_consistency, verify_inclusion
from zeroos.zdb.chain.signing import Identity


def proofs(leaves: int, samples: int = 1000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = ChainLog(tmp, "bench", Identity.generate())
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
        reopened = ChainLog(tmp, "bench", log.identity)
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server(root: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    cmd = [sys.executable, "-m", "zeroos.cli.main", "zdb", "serve", "--port", str(port)]
    cmd += ["--data", str(root / "data"), "--index", str(root / "index"), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


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
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    match = re.findall(r"([\d.]+) requests per second", out)
    return float(match[-1]) if match else 0.0


def throughput(requests: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        on, on_port = _server(Path(tmp) / "on")
        off, off_port = _server(Path(tmp) / "off", "--no-chain")
        try:
            print(f"{'test':<12}{'chain on':>14}{'chain off':>14}{'on/off':>9}")
            for test in ("set", "get"):
                for pipeline in (1, 16):
                    # alternate the two servers, best of two, so both see the same machine
                    a = max(_rps(on_port, test, requests, pipeline) for _ in range(2))
                    b = max(_rps(off_port, test, requests, pipeline) for _ in range(2))
                    print(
                        f"{test.upper() + f' -P {pipeline}':<12}{a:>14,.0f}{b:>14,.0f}"
                        f"{a / b if b else 0:>9.2f}"
                    )
        finally:
            for proc in (on, off):
                proc.terminate()
                proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("ZOS_EVENT_LOOP", "uvloop")
    print(f"# zero-db chain benchmark ({os.cpu_count()} cpus)")
    proofs(args.leaves)
    if not args.skip_throughput:
        throughput(args.requests)


if __name__ == "__main__":
    main()
