#!/usr/bin/env python3
"""Benchmark `zos flist create` against `tar -czf` of the same tree: `python bench/flist_bench.py`.

`python bench/flist_bench.py [--size 1G]`

One run makes a tree of mixed files (many small, some large: flist_mount_bench's tree) on local
disk, reads it once so that every contender starts from the page cache, and times, each as its
own process:

* `tar -czf` of the tree (the reference);
* `zos flist create` to a local zero-db: every block sealed and uploaded (target >= 1.0x tar);
* the same create again: every block already stored (target >= 3x tar), with the block id
  cache (the default) and without it (`--no-id-cache`, every block sealed again);

then changes a few files (a new version of the tree) and creates it again, to show what
deduplication stores for two versions. Ratios are tar's wall time over create's; the CPU
seconds of each process (and of the zero-db server during creates) are printed beside them,
since on a shared machine they move less than wall time. It prints a report, writes it as JSON
to bench/results/ and never fails on a number. Everything it starts is stopped and its folder
(under /var/tmp, on disk) removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from flist_mount_bench import make_tree, parse_size, run_and_report
from zeroos.flist.format import Flist
from zeroos.flist.query import info
from zeroos.testing import ZdbProcess

BENCH_DIR = Path(__file__).resolve().parent
MiB = 1024 * 1024


def warm(root: Path) -> None:
    """Read every file once: all contenders then read from the page cache."""
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                while f.read(MiB):
                    pass


def server_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(cmd: list[str], server_pid: int | None = None) -> dict[str, Any]:
    """Run a command to its end: wall seconds, its CPU seconds, the server's CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    served = server_cpu(server_pid) if server_pid else 0.0
    start = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = {"wall_s": wall, "cpu_s": cpu, "output": out.stdout.strip()}
    if server_pid:
        result["server_cpu_s"] = server_cpu(server_pid) - served
    return result


def new_version(root: Path, rng: random.Random) -> int:
    """Change the tree as a new release would: some files rewritten, some added; bytes added."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    changed = 0
    for path in rng.sample(files, max(1, len(files) // 50)):  # 2% of the files rewritten
        data = rng.randbytes(path.stat().st_size)
        path.write_bytes(data)
        changed += len(data)
    for i in range(20):  # and a few new ones
        data = rng.randbytes(rng.randint(1024, MiB))
        (root / "new" / f"n{i}").parent.mkdir(exist_ok=True)
        (root / "new" / f"n{i}").write_bytes(data)
        changed += len(data)
    return changed


def unique_bytes(flists: list[Path]) -> int:
    """The plain bytes of the distinct blocks of several flists together."""
    ids: dict[bytes, int] = {}
    for path in flists:
        with Flist.open(path) as fl:
            size = fl.block_size
            sizes = {node.ino: node.size for _, node in fl.walk() if node.is_file}
            seen: dict[int, int] = {}
            for ino, ref in fl.all_blocks():
                i = seen.get(ino, 0)
                seen[ino] = i + 1
                ids.setdefault(ref.id, min(size, sizes.get(ino, 0) - i * size))
    return sum(ids.values())


def run(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    tree = work / "tree"
    files, size = make_tree(tree, args.size, rng)
    warm(tree)
    server = ZdbProcess(work / "zdb").start()
    try:
        store = f"zdb://127.0.0.1:{server.port}"
        pid = server.proc.pid if server.proc else None
        zos = [sys.executable, "-m", "zeroos.cli", "flist", "create", str(tree),
               "--store", store]  # fmt: skip
        cache = ["--id-cache", str(work / "ids.sqlite")]
        report: dict[str, Any] = {
            "files": files,
            "bytes": size,
            "load_before": os.getloadavg(),
            "tar": timed(["tar", "-czf", str(work / "tree.tgz"), "-C", str(work), "tree"]),
            "create_first": timed([*zos, "-o", str(work / "v1.fl"), *cache], pid),
            "create_again": timed([*zos, "-o", str(work / "again.fl"), *cache], pid),
            "create_again_no_cache": timed(
                [*zos, "-o", str(work / "again2.fl"), "--no-id-cache"], pid
            ),
        }
        report["tgz_bytes"] = (work / "tree.tgz").stat().st_size
        report["changed_bytes"] = new_version(tree, rng)
        warm(tree)
        report["create_v2"] = timed([*zos, "-o", str(work / "v2.fl"), *cache], pid)
        report["load_after"] = os.getloadavg()
    finally:
        server.stop()
    with Flist.open(work / "v1.fl") as fl:
        v1 = info(fl)
    with Flist.open(work / "v2.fl") as fl:
        v2 = info(fl)
    report["dedup"] = {
        "v1_bytes": v1.total_bytes,
        "v1_unique_bytes": v1.unique_bytes,
        "v2_bytes": v2.total_bytes,
        "v2_unique_bytes": v2.unique_bytes,
        "both_unique_bytes": unique_bytes([work / "v1.fl", work / "v2.fl"]),
    }
    tar_wall = report["tar"]["wall_s"]
    for name in ("create_first", "create_again", "create_again_no_cache", "create_v2"):
        report[name]["ratio_vs_tar"] = tar_wall / report[name]["wall_s"]
    return report


def show(report: dict[str, Any]) -> None:
    tar = report["tar"]
    dd = report["dedup"]
    targets = {"create_first": 1.0, "create_again": 3.0}
    lines = [
        f"tree: {report['files']} files, {report['bytes'] / MiB:.0f} MiB "
        f"(tar.gz {report['tgz_bytes'] / MiB:.0f} MiB)",
        f"  {'tar -czf':<28} {tar['wall_s']:7.1f} s wall {tar['cpu_s']:6.1f} s cpu",
    ]
    for name, label in (
        ("create_first", "create (all blocks new)"),
        ("create_again", "create again (id cache)"),
        ("create_again_no_cache", "create again (no id cache)"),
        ("create_v2", "create of version 2"),
    ):
        r = report[name]
        target = targets.get(name)
        verdict = ""
        if target is not None:
            verdict = (
                f"  target >= {target:.1f}x: {'ok' if r['ratio_vs_tar'] >= target else 'BELOW'}"
            )
        lines.append(
            f"  {label:<28} {r['wall_s']:7.1f} s wall {r['cpu_s']:6.1f} s cpu "
            f"(+ zero-db {r['server_cpu_s']:.1f} s)  {r['ratio_vs_tar']:.2f}x tar{verdict}"
        )
    lines += [
        "dedup, two versions of the tree "
        f"({report['changed_bytes'] / MiB:.0f} MiB changed or added):",
        f"  v1 {dd['v1_bytes'] / MiB:.0f} MiB ({dd['v1_unique_bytes'] / MiB:.0f} MiB unique), "
        f"v2 {dd['v2_bytes'] / MiB:.0f} MiB ({dd['v2_unique_bytes'] / MiB:.0f} MiB unique)",
        f"  stored for both: {dd['both_unique_bytes'] / MiB:.0f} MiB of plain blocks, against "
        f"{(dd['v1_bytes'] + dd['v2_bytes']) / MiB:.0f} MiB as two copies",
        f"load average before {report['load_before'][0]:.1f}, after {report['load_after'][0]:.1f}",
    ]
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("1G"),
                        help="bytes of the mixed tree (default 1G)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    run_and_report("flist", run, show, args)


if __name__ == "__main__":
    main()
