"""zero-id speed: token issuance over HTTP and verification through zeroos.identity.verify,
beside the raw ES384 sign/verify rate of the crypto library (pyjwt + cryptography), same run.

    python bench/id_bench.py [--seconds 5] [--clients 50]

Starts `zos id serve` (embedded zero-db) in a child process; never part of the test suite.
Targets: issuance >= 0.5x raw signing; verification >= 0.8x raw verifying.

The server is one process (one uvicorn worker) that signs in a small thread pool: ECDSA
releases the GIL, so signing may overlap with HTTP work on a second core. Its CPU time per
token (all threads, from /proc) is printed beside the raw signing time, as a figure that depends
less on what else the machine runs than tokens/s do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from zeroos.common.harness import Child, zos_serve
from zeroos.identity import Verifier
from zeroos.identity.client import IdentityClient, KeyOwner


def rate(fn: Callable[[], object], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(root: Path) -> Child:
    """`zos id serve` on a free port, once its ready file names its address."""
    argv = zos_serve("id", "--port", "0", "--data", str(root / "d"))
    return Child(argv, root / "id.ready", log=root / "serve.log", name="zero-id").start(30)


async def issue(
    url: str, grant: dict[str, str], seconds: float, clients: int
) -> tuple[float, float, int]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = await client.post("/v1/oauth/access_token", data=grant)
                r.raise_for_status()
                latencies.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
    return len(latencies) / elapsed, p99, len(latencies)


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = "{body}"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"""


def issue_wrk(
    url: str, grant: dict[str, str], seconds: float, clients: int
) -> tuple[float, float, int]:
    """The same load from wrk (C): the Python load generator costs more CPU than the server."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_SCRIPT.format(body=urlencode(grant)))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{max(1, int(seconds))}s", "--latency",
         "-s", fh.name, url + "/v1/oauth/access_token"],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout  # fmt: skip
    Path(fh.name).unlink()
    if "Non-2xx" in out:
        raise SystemExit("wrk saw error replies:\n" + out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
    return rps, float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"), count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()

    load_start = os.getloadavg()
    key = ec.generate_private_key(ec.SECP384R1())
    claims = {
        "iss": "x",
        "exp": int(time.time()) + 3600,
        "username": "bench",
        "scope": ["user:admin"],
    }
    token = jwt.encode(claims, key, algorithm="ES384")
    raw_sign = rate(lambda: jwt.encode(claims, key, algorithm="ES384"), args.seconds)
    raw_verify = rate(
        lambda: jwt.decode(token, key.public_key(), algorithms=["ES384"]), args.seconds
    )

    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp))
        url = "http://" + server.addresses[0]
        try:
            with IdentityClient(url, timeout=30) as anonymous:
                anonymous.register("bench", "benchpassword")
                tok = anonymous.password_grant("bench", "benchpassword")["access_token"]
            with IdentityClient(url, tok, timeout=30) as bench:
                secret = bench.create_apikey(KeyOwner.user("bench"), "bench")["secret"]
                bench.client_credentials("bench", secret)
            grant = {
                "grant_type": "client_credentials",
                "client_id": "bench",
                "client_secret": secret,
            }
            cpu_before = cpu_seconds(server.pid)
            if shutil.which("wrk"):
                issued, p99, count = issue_wrk(url, grant, args.seconds, args.clients)
                generator = "wrk"
            else:
                issued, p99, count = asyncio.run(issue(url, grant, args.seconds, args.clients))
                generator = "httpx (apt-get install wrk for a lighter load generator)"
            cpu_per_token = (cpu_seconds(server.pid) - cpu_before) / max(count, 1)
            with Verifier(url) as verifier:
                verifier.verify(tok)
                verified = rate(lambda: verifier.verify(tok, scope="user:admin"), args.seconds)
        finally:
            server.stop()

    load_end = os.getloadavg()
    print(f"load average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end")
    print(f"raw ES384 sign      {raw_sign:9.0f} tokens/s  ({1e6 / raw_sign:.0f} us each)")
    print(f"raw ES384 verify    {raw_verify:9.0f} tokens/s")
    print(
        f"issuance over HTTP  {issued:9.0f} tokens/s  p99 {p99 * 1000:.1f} ms "
        f"({args.clients} clients, {generator})"
    )
    print(
        f"server CPU per token  {cpu_per_token * 1e6:5.0f} us (1 process, 1 uvicorn worker, "
        f"signing threads; raw sign / server CPU = {1 / raw_sign / cpu_per_token:.2f}x)"
    )
    print(f"verify library      {verified:9.0f} tokens/s")
    print(f"issuance / raw sign   {issued / raw_sign:5.2f}x  (target >= 0.5x)")
    print(f"verify / raw verify   {verified / raw_verify:5.2f}x  (target >= 0.8x)")


if __name__ == "__main__":
    main()
