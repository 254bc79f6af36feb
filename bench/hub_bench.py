#!/usr/bin/env python3
"""Benchmark zero-hub: `python bench/hub_bench.py [--size 500M] [--flists 10000]`.

One run starts a zero-db, a zero-id and a zero-hub (`zos hub serve`, each its own process on
the shared harness), makes a tree of mixed files (flist_mount_bench's) and its .tar.gz, then
measures, against the issue's targets:

* upload-to-flist of the .tar.gz (POST /api/flist/me/upload, the hub unpacks it and stores
  every block) beside `tar -xzf` of the same archive (target >= 0.7x, tar's wall time over
  the upload's);
* the same upload again, every block already in the store (target >= 3x faster than the first;
  the hub recognises the archive by its digest and reuses the flist it made of it);
* listing latency with ``--flists`` flists in the hub (GET /api/flist, /api/flist/<user>,
  /api/flist/<user>/<name>/light; target p99 < 50 ms);
* download of the .fl file (GET /<user>/<name>.fl) beside uvicorn serving the same file with
  Starlette's StaticFiles (target >= 0.5x).

It prints a report, writes it as JSON to bench/results/ and never fails on a number. Everything
it starts is stopped and its folder (under /var/tmp) removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from flist_mount_bench import make_tree, parse_size, run_and_report
from zeroos.common.harness import Child, zos_serve
from zeroos.hub import HubClient
from zeroos.testing import ZdbProcess, free_port

STATIC_SERVER = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
app = Starlette(routes=[Mount("/", StaticFiles(directory=sys.argv[1]))])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def _token(id_url: str, name: str) -> str:
    with httpx.Client(base_url=id_url, timeout=60) as http:
        http.post("/api/users", json={"username": name, "password": "password123"})
        data = {"grant_type": "password", "username": name, "password": "password123"}
        return str(http.post("/v1/oauth/access_token", data=data).json()["access_token"])


def _latency(http: httpx.Client, path: str, count: int) -> dict[str, float]:
    """p50 and p99 of ``count`` GETs of ``path``, in milliseconds."""
    seen = []
    for _ in range(count):
        start = time.perf_counter()
        r = http.get(path)
        seen.append((time.perf_counter() - start) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"GET {path}: HTTP {r.status_code}")
    seen.sort()
    return {"p50_ms": statistics.median(seen), "p99_ms": seen[int(len(seen) * 0.99) - 1]}


def _download_rate(url: str, rounds: int) -> float:
    """MiB/s of downloading ``url`` ``rounds`` times over one connection."""
    size = 0
    with httpx.Client(timeout=120) as http:
        start = time.perf_counter()
        for _ in range(rounds):
            with http.stream("GET", url) as r:
                for chunk in r.iter_bytes(1 << 20):
                    size += len(chunk)
        return size / (1 << 20) / (time.perf_counter() - start)


def run(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    tree = work / "tree"
    files, size = make_tree(tree, args.size, rng)
    archive = work / "rootfs.tar.gz"
    subprocess.run(["tar", "-czf", str(archive), "-C", str(tree), "."], check=True)
    shutil.rmtree(tree)
    report: dict[str, Any] = {
        "files": files,
        "bytes": size,
        "archive_bytes": archive.stat().st_size,
    }
    start = time.monotonic()
    (work / "x").mkdir()
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(work / "x")], check=True)
    report["tar_xzf_s"] = time.monotonic() - start
    shutil.rmtree(work / "x")

    zdb = ZdbProcess(work / "zdb").start()
    children: list[Child] = []
    try:
        ident = Child(zos_serve("id", "--port", "0", "--data", str(work / "id"),
                                "--argon2-memory", "8192", "--argon2-time", "1"),
                      work / "id.ready", log=work / "id.log").start(60)  # fmt: skip
        children.append(ident)
        id_url = f"http://127.0.0.1:{ident.port}"
        hub = Child(zos_serve("hub", "--port", "0", "--data", str(work / "hub"), "--id", id_url,
                              "--store", f"zdb://127.0.0.1:{zdb.port}", "--max-upload", "64G",
                              "--max-expand", "64G"),
                    work / "hub.ready", log=work / "hub.log").start(60)  # fmt: skip
        children.append(hub)
        url = f"http://127.0.0.1:{hub.port}"
        token = _token(id_url, "bench")
        with HubClient(url, token=token, transfer_timeout=3600) as client:
            for label in ("first_upload", "second_upload"):
                start = time.monotonic()
                answer = client.upload(archive)
                report[f"{label}_s"] = time.monotonic() - start
                report[f"{label}_blocks_new"] = answer["blocks_new"]
                report[f"{label}_reused"] = answer.get("reused", False)
            fl = work / "rootfs.fl"
            client.download("bench", "rootfs.fl", fl)
        report["upload_vs_tar"] = report["tar_xzf_s"] / report["first_upload_s"]
        report["second_speedup"] = report["first_upload_s"] / report["second_upload_s"]

        # many flists: copies of one small flist placed in the repository's folder (set-up,
        # not measured), then the listing routes timed through HTTP
        repo = work / "hub" / "hub" / "flists" / "bench"
        small = repo / "rootfs.fl"
        for i in range(args.flists):
            shutil.copyfile(small, repo / f"f{i:05d}.fl")
        with httpx.Client(base_url=url, timeout=60) as http:
            report["latency"] = {
                "all_flists": _latency(http, "/api/flist", args.requests),
                "repository": _latency(http, "/api/flist/bench", args.requests),
                "light": _latency(http, "/api/flist/bench/f00001.fl/light", args.requests),
            }

        static_dir = work / "static"
        static_dir.mkdir()
        shutil.copyfile(fl, static_dir / "rootfs.fl")
        port = free_port()
        static = subprocess.Popen([sys.executable, "-c", STATIC_SERVER, str(static_dir), str(port)])
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/rootfs.fl", timeout=5)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            rounds = max(3, (256 << 20) // max(1, fl.stat().st_size))
            static_rate = _download_rate(f"http://127.0.0.1:{port}/rootfs.fl", rounds)
            hub_rate = _download_rate(f"{url}/bench/rootfs.fl", rounds)
        finally:
            static.terminate()
            static.wait(30)
        report["download"] = {"fl_bytes": fl.stat().st_size, "rounds": rounds,
                              "hub_MiB_s": hub_rate, "static_MiB_s": static_rate,
                              "ratio": hub_rate / static_rate}  # fmt: skip
    finally:
        for child in reversed(children):
            child.stop()
        zdb.stop()
    return report


def show(report: dict[str, Any]) -> None:
    print(f"tree: {report['files']} files, {report['bytes'] / (1 << 20):.0f} MiB "
          f"({report['archive_bytes'] / (1 << 20):.0f} MiB .tar.gz)")  # fmt: skip
    print(f"tar -xzf:            {report['tar_xzf_s']:.2f} s")
    print(f"upload (first):      {report['first_upload_s']:.2f} s  "
          f"{report['upload_vs_tar']:.2f}x tar (target >= 0.7x)")  # fmt: skip
    way = "the kept flist reused" if report["second_upload_reused"] else "converted again"
    print(f"upload (again):      {report['second_upload_s']:.2f} s  "
          f"{report['second_speedup']:.2f}x faster (target >= 3x; {way})")  # fmt: skip
    for name, lat in report["latency"].items():
        print(f"latency {name:<12} p50 {lat['p50_ms']:.1f} ms  p99 {lat['p99_ms']:.1f} ms "
              "(target p99 < 50 ms)")  # fmt: skip
    d = report["download"]
    print(f"download .fl:        hub {d['hub_MiB_s']:.0f} MiB/s, static {d['static_MiB_s']:.0f} "
          f"MiB/s: {d['ratio']:.2f}x (target >= 0.5x)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("500M"),
                        help="bytes of the tree (default 500M)")  # fmt: skip
    parser.add_argument("--flists", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="GETs per latency figure")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    run_and_report("hub", run, show, parser.parse_args())


if __name__ == "__main__":
    main()
