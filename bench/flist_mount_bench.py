#!/usr/bin/env python3
"""Benchmark `zos flist mount` against the same tree on local disk (run as root).

`python bench/flist_mount_bench.py [--size 256M] [--entries 100000]`

One run makes a tree of mixed files (many small, some large) on local disk, stores it as an
flist on a local zero-db, and reads it whole, file after file, in 1 MiB reads:

* local cold: the tree on disk, its pages dropped from the page cache first (fadvise);
* mount cold: a fresh mount with an empty block cache; every block comes from zero-db (whose
  files' pages are dropped first), is checked, decrypted and decompressed;
* mount cache: a fresh mount over the now full block cache (no zero-db, no page cache);
* local warm / mount warm: the same read again (the page cache; the mount keeps its pages
  because flists never change), three passes each, local and mount in turn, the fastest of each
  kept: a page-cache pass takes a second or two, and on a shared machine another job's burst
  can halve one of them.

Targets: mount cold >= 0.3x local cold, mount warm >= 0.5x local warm (ratios of MB/s). It
also times the first byte of a large file on a fresh mount (empty cache), and `find -ls` over a
tree of `--entries` entries on disk and mounted (first run: every entry from the flist's
database; second run: the kernel's attribute cache). It prints a report, writes it as JSON
to bench/results/ and never fails on a number. Everything it starts is stopped and its
folder (under /var/tmp, on disk) removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from zeroos.cli.util import SIZE
from zeroos.flist.create import create
from zeroos.flist.mount.system import mounted_at
from zeroos.testing import ZdbProcess

BENCH_DIR = Path(__file__).resolve().parent
MiB = 1024 * 1024
WARM_PASSES = 3


def parse_size(text: str) -> int:
    """A size like 256M or 1G (zos's own parser)."""
    try:
        return SIZE.convert(text, None, None)
    except click.BadParameter as exc:
        raise argparse.ArgumentTypeError(exc.message) from exc


# -- processes ------------------------------------------------------------------------------
class Zdb(ZdbProcess):
    """A `zos zdb serve` on a free port (zeroos.testing's, on the shared harness), started."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.start()


class Mount:
    """A `zos flist mount` process, mounted when the constructor returns."""

    def __init__(self, flist: Path, mountpoint: Path, cache: Path) -> None:
        mountpoint.mkdir(exist_ok=True)
        self.mountpoint = mountpoint
        cmd = [sys.executable, "-m", "zeroos.cli", "flist", "mount", str(flist),
               str(mountpoint), "--cache", str(cache)]  # fmt: skip
        self.proc = subprocess.Popen(cmd)
        deadline = time.monotonic() + 30
        while mounted_at(mountpoint) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the flist did not mount")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        while mounted_at(self.mountpoint) is not None:
            subprocess.run(["umount", "-l", str(self.mountpoint)], check=False)


# -- trees ----------------------------------------------------------------------------------
def make_tree(root: Path, size: int, rng: random.Random) -> tuple[int, int]:
    """Mixed files: 60% of the bytes in 4-16 MiB files, the rest in 1-64 KiB ones."""
    text = b"".join(b"line %d of a config or a log file, quite compressible\n" % i
                    for i in range(2000))  # fmt: skip
    files = written = 0
    big_budget = size * 6 // 10
    while written < size:
        big = written < big_budget
        length = rng.randint(4 * MiB, 16 * MiB) if big else rng.randint(1024, 64 * 1024)
        length = min(length, size - written) or 1
        folder = root / (f"big{files % 4}" if big else f"d{files % 50}/s{files % 7}")
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"f{files}", "wb") as f:
            left = length
            while left:
                n = min(left, MiB)
                # half random, half text: snappy has both kinds of block to work on
                f.write(rng.randbytes(n) if files % 2 else (text * (n // len(text) + 1))[:n])
                left -= n
        files += 1
        written += length
    return files, written


def make_entries(root: Path, count: int) -> None:
    """`count` entries: directories of 1000 empty files, a symlink in each directory."""
    made = 0
    while made < count:
        folder = root / f"dir{made // 1000}"
        folder.mkdir(parents=True)
        os.symlink("f0", folder / "link")
        made += 2
        for i in range(min(998, count - made)):
            (folder / f"f{i}").touch()
            made += 1


def drop_pages(root: Path) -> None:
    """Evict a tree's file pages from the page cache, so that reads go to the disk."""
    for top, _, files in os.walk(root):
        for name in files:
            path = os.path.join(top, name)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def read_tree(root: Path) -> dict[str, float]:
    """Read every file in 1 MiB reads, one after the other: bytes and seconds, in all and for
    the large files (big*/) apart, since a small file costs mostly its open."""
    took = {"bytes": 0.0, "seconds": 0.0, "big_bytes": 0.0, "big_seconds": 0.0}
    for top, dirs, files in os.walk(root):
        dirs.sort()
        big = Path(top).name.startswith("big")
        for name in sorted(files):
            started = time.perf_counter()
            n = 0
            with open(os.path.join(top, name), "rb", buffering=0) as f:
                while chunk := f.read(MiB):
                    n += len(chunk)
            spent = time.perf_counter() - started
            took["bytes"] += n
            took["seconds"] += spent
            if big:
                took["big_bytes"] += n
                took["big_seconds"] += spent
    return took


def _ratio(local_seconds: float, mount_seconds: float) -> float | None:
    """Mount speed over local speed for the same bytes; None when there were none."""
    return local_seconds / mount_seconds if mount_seconds > 0 else None


def _x(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (steadier than wall time on a busy machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def find_ls(root: Path) -> float:
    return timed(
        lambda: subprocess.run(["find", str(root), "-ls"], stdout=subprocess.DEVNULL, check=True)
    )


def first_byte(flist: Path, mountpoint: Path, cache: Path, name: str) -> float:
    """Seconds from open() to the first byte of a file on a fresh mount with an empty cache."""
    shutil.rmtree(cache, ignore_errors=True)
    mount = Mount(flist, mountpoint, cache)
    try:
        started = time.perf_counter()
        with open(mountpoint / name, "rb", buffering=0) as f:
            f.read(1)
        return time.perf_counter() - started
    finally:
        mount.stop()


# -- the run --------------------------------------------------------------------------------
def run(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    src = work / "tree"
    files, size = make_tree(src, args.size, rng)
    print(f"tree: {files} files, {size / MiB:.0f} MiB in {src}", flush=True)
    zdb = Zdb(work / "zdb")
    report: dict[str, Any] = {"files": files, "bytes": size, "load_before": os.getloadavg()}
    try:
        flist = work / "tree.fl"
        report["create_s"] = timed(
            lambda: create(src, flist, [f"zdb://127.0.0.1:{zdb.port}"], timeout=60)
        )
        cache, mnt = work / "cache", work / "mnt"
        reads: dict[str, dict[str, float]] = {}
        drop_pages(src)
        reads["local_cold"] = read_tree(src)
        drop_pages(zdb.root)
        mount = Mount(flist, mnt, cache)
        try:
            before = cpu_seconds(mount.proc.pid), cpu_seconds(zdb.proc.pid)
            reads["mount_cold"] = read_tree(mnt)
            after = cpu_seconds(mount.proc.pid), cpu_seconds(zdb.proc.pid)
            passes: dict[str, list[dict[str, float]]] = {"local_warm": [], "mount_warm": []}
            for _ in range(WARM_PASSES):
                passes["local_warm"].append(read_tree(src))
                passes["mount_warm"].append(read_tree(mnt))
            warm = cpu_seconds(mount.proc.pid)
        finally:
            mount.stop()
        for name, took in passes.items():
            reads[name] = min(took, key=lambda t: t["seconds"])
        report["warm_passes_s"] = {k: [t["seconds"] for t in v] for k, v in passes.items()}
        report["cold_cpu_ms_per_MiB"] = {
            "mount": 1000 * (after[0] - before[0]) / (size / MiB),
            "zdb": 1000 * (after[1] - before[1]) / (size / MiB),
        }
        report["warm_cpu_ms_per_MiB"] = {
            "mount": 1000 * (warm - after[0]) / (size / MiB) / WARM_PASSES
        }
        mount = Mount(flist, mnt, cache)
        try:
            drop_pages(cache)
            reads["mount_cache"] = read_tree(mnt)
        finally:
            mount.stop()
        for name, took in reads.items():
            if took["bytes"] != size:
                raise SystemExit(f"{name} read {took['bytes']} bytes of {size}")
        report["reads"] = reads
        report["read_MBps"] = {k: size / MiB / t["seconds"] for k, t in reads.items()}
        for kind in ("cold", "warm"):
            local, mounted = reads[f"local_{kind}"], reads[f"mount_{kind}"]
            report[f"ratio_{kind}"] = _ratio(local["seconds"], mounted["seconds"])
            report[f"ratio_{kind}_large"] = _ratio(local["big_seconds"], mounted["big_seconds"])
            report[f"ratio_{kind}_small"] = _ratio(
                local["seconds"] - local["big_seconds"], mounted["seconds"] - mounted["big_seconds"]
            )
        largest = max(src.rglob("f*"), key=lambda p: p.stat().st_size)
        name = str(largest.relative_to(src))
        report["first_byte_ms"] = 1000 * first_byte(flist, mnt, cache, name)

        entries = work / "entries"
        make_entries(entries, args.entries)
        entries_fl = work / "entries.fl"
        report["entries"] = args.entries
        report["entries_create_s"] = timed(
            lambda: create(entries, entries_fl, [f"zdb://127.0.0.1:{zdb.port}"], timeout=60)
        )
        report["find_ls_local_s"] = [find_ls(entries), find_ls(entries)]
        mount = Mount(entries_fl, mnt, cache)
        try:
            report["find_ls_mount_s"] = [find_ls(mnt), find_ls(mnt)]
        finally:
            mount.stop()
    finally:
        zdb.stop()
    report["load_after"] = os.getloadavg()
    return report


def show(report: dict[str, Any]) -> None:
    mbps = report["read_MBps"]
    lines = [
        f"tree: {report['files']} files, {report['bytes'] / MiB:.0f} MiB "
        f"(flist made in {report['create_s']:.1f} s)",
        *(f"  read {k:<12} {v:8.1f} MB/s" for k, v in mbps.items()),
        *(
            f"  {kind}: mount/local = {_x(report[f'ratio_{kind}'])} (target >= {target}); "
            f"large files {_x(report[f'ratio_{kind}_large'])}, "
            f"small files {_x(report[f'ratio_{kind}_small'])}"
            for kind, target in (("cold", "0.3x"), ("warm", "0.5x"))
        ),
        "  CPU ms per MiB, cold read: mount {mount:.1f}, zero-db {zdb:.1f}; ".format(
            **report["cold_cpu_ms_per_MiB"]
        )
        + f"warm read: mount {report['warm_cpu_ms_per_MiB']['mount']:.1f}",
        "  warm passes (s): "
        + "; ".join(
            f"{k} " + ", ".join(f"{s:.2f}" for s in v) for k, v in report["warm_passes_s"].items()
        ),
        f"  first byte of the largest file, fresh mount, empty cache: "
        f"{report['first_byte_ms']:.1f} ms",
        f"find -ls over {report['entries']} entries (flist made in "
        f"{report['entries_create_s']:.1f} s):",
        "  local: " + ", ".join(f"{s:.2f} s" for s in report["find_ls_local_s"]),
        "  mount: "
        + ", ".join(f"{s:.2f} s" for s in report["find_ls_mount_s"])
        + " (first run from the database, second from the kernel's cache)",
        f"load average before {report['load_before'][0]:.1f}, after {report['load_after'][0]:.1f}",
    ]
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("256M"),
                        help="bytes of the mixed tree (default 256M)")  # fmt: skip
    parser.add_argument("--entries", type=int, default=100_000,
                        help="entries of the find -ls tree (default 100000)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: FUSE mounts and dropping pages need it")
    run_and_report("flist-mount", run, show, args)


def run_and_report(
    name: str,
    run: Callable[[Path, argparse.Namespace], dict[str, Any]],
    show: Callable[[dict[str, Any]], None],
    args: argparse.Namespace,
) -> None:
    """Run a benchmark in a fresh folder under /var/tmp (removed unless --keep), print its
    report and write it to bench/results/NAME-YYYYmmdd-HHMMSS.json."""
    # SIGTERM unwinds like Ctrl-C, so that the finally blocks stop everything
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    work = Path(tempfile.mkdtemp(prefix=f"{name}-bench-", dir="/var/tmp"))
    try:
        report = run(work, args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    show(report)
    out = BENCH_DIR / "results" / time.strftime(f"{name}-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"report: {out}")


if __name__ == "__main__":
    main()
