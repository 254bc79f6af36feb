"""zero-robot speed, each figure beside a reference taken in the same run:

    python bench/robot_bench.py [--services 1000] [--tasks 10000] [--pending 10000]

- tasks/s through the task lists (a trivial action on ``--services`` services, scheduled in
  batches as a blueprint does, and one at a time from 8 threads as REST callers do), beside the
  same number of no-op calls through a bare ThreadPoolExecutor of as many workers
  (target: >= 1,000 tasks/s);
- blueprint apply time for ``--services`` services;
- restart time with ``--services`` services and ``--pending`` pending tasks (target < 5 s),
  beside the time to read the journal's files alone;
- REST p99 of ``GET /services`` with those services (target < 50 ms), beside ``GET /robot``,
  against a real ``zos robot serve`` started on the shared harness: with nothing to run (the
  target's case), then again while it runs the pending tasks.

Never part of the test suite; it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from zeroos.common.harness import Child, zos_serve
from zeroos.robot.engine import Robot
from zeroos.robot.journal import ServiceStore, task_line
from zeroos.robot.models import Task, TaskState
from zeroos.robot.store import FileJournal

NOOP = """
from zeroos.robot import TemplateBase


class Noop(TemplateBase):
    template_name = "noop"

    def ping(self) -> None:
        return None
"""
WORKERS = 32


def templates(root: Path) -> Path:
    folder = root / "templates" / "noop"
    folder.mkdir(parents=True)
    (folder / "noop.py").write_text(NOOP)
    return root


def reference_pool(count: int) -> float:
    """Seconds for ``count`` no-op calls through a bare thread pool of WORKERS threads."""
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        start = time.perf_counter()
        futures = [pool.submit(lambda: None) for _ in range(count)]
        for future in futures:
            future.result()
        return time.perf_counter() - start


def wait_done(robot: Robot, tasks: list[Task]) -> None:
    """Until every task ran."""
    deadline = time.monotonic() + 600
    for guid, task in ((t.service_guid, t.guid) for t in tasks):
        while robot.task(guid, task).state in (TaskState.new, TaskState.running):
            if time.monotonic() > deadline:
                raise SystemExit("tasks did not finish in 600 s")
            time.sleep(0.005)


def bench_tasks(root: Path, services: int, tasks: int) -> tuple[float, float, float, int]:
    """(blueprint seconds, batched tasks/s, one-at-a-time tasks/s, group commits)."""
    robot = Robot(root / "data", workers=WORKERS)
    robot.catalog.add_repository(str(templates(root / "repo")))
    robot.restore()
    try:
        start = time.perf_counter()
        robot.blueprint({"services": [{f"noop__s{i}": {}} for i in range(services)]})
        blueprint = time.perf_counter() - start
        guids = [s.guid for s in robot.services()]
        per_service = max(1, tasks // len(guids))
        count = per_service * len(guids)
        commits = robot.store.batches
        start = time.perf_counter()
        for _ in range(per_service):
            made = robot.schedule_many([(g, "ping", {}) for g in guids])
        wait_done(robot, made)  # each service's last: a task list runs in order
        batched = count / (time.perf_counter() - start)
        commits = robot.store.batches - commits

        single = min(count, 2000)
        start = time.perf_counter()
        scheduled: list[Task] = []

        def one_by_one(worker: int) -> None:
            for n in range(worker, single, 8):
                scheduled.append(robot.schedule(guids[n % len(guids)], "ping", {}))

        threads = [threading.Thread(target=one_by_one, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_done(robot, scheduled)
        singly = single / (time.perf_counter() - start)
    finally:
        robot.close()
    return blueprint, batched, singly, commits


def prepare(root: Path, services: int, pending: int) -> tuple[Path, Path]:
    """A data folder with ``services`` noop services and ``pending`` tasks waiting."""
    repo = templates(root / "repo")
    robot = Robot(root / "data")
    robot.catalog.add_repository(str(repo))
    robot.restore()
    robot.blueprint({"services": [{f"noop__s{i}": {}} for i in range(services)]})
    made = robot.services()
    robot.close()
    store = ServiceStore(FileJournal(root / "data" / "journal"))
    store.load()
    for n in range(pending):  # written straight to the journal: nothing runs them
        runtime_free = made[n % len(made)]
        task = robot.runtime(runtime_free.guid).new_task("ping", {})
        store.write([task_line(task)], wait=n % 1000 == 999)
    store.close()
    return root / "data", repo


def bench_restart(data: Path, repo: Path) -> tuple[float, float]:
    """(seconds to restore, seconds to read the journal's files alone)."""
    start = time.perf_counter()
    for path in (data / "journal").iterdir():
        path.read_bytes()
    read = time.perf_counter() - start
    robot = Robot(data, workers=1)
    robot.catalog.add_repository(str(repo))
    start = time.perf_counter()
    restored = robot.restore()
    seconds = time.perf_counter() - start
    robot.close()
    print(f"  restored {restored} services")
    return seconds, read


def p99(client: httpx.Client, path: str, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        client.get(path).raise_for_status()
        times.append(time.perf_counter() - start)
    return statistics.quantiles(times, n=100)[98]


def bench_rest(root: Path, data: Path, repo: Path, n: int) -> tuple[float, float]:
    argv = zos_serve(
        "robot", "--port", "0", "--dev", "--data", str(data), "--template-repo", str(repo)
    )
    child = Child(argv, root / "robot.ready", log=root / "robot.log", name="robot").start(120)
    try:
        with httpx.Client(base_url=f"http://{child.addresses[0]}", timeout=30) as client:
            client.get("/services").raise_for_status()
            return p99(client, "/services", n), p99(client, "/robot", n)
    finally:
        child.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--pending", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} at the start; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        blueprint, batched, singly, commits = bench_tasks(root / "t", args.services, args.tasks)
        reference = args.tasks / reference_pool(args.tasks)
        data, repo = prepare(root / "r", args.services, args.pending)
        restart, read = bench_restart(data, repo)
        # the target's case: a robot with its services and nothing to run; then the same
        # routes while it works through the pending tasks (the threads running them share
        # the interpreter with the requests)
        idle_data, idle_repo = prepare(root / "q", args.services, 0)
        slow, fast = bench_rest(root / "q", idle_data, idle_repo, args.requests)
        busy_slow, busy_fast = bench_rest(root / "r", data, repo, args.requests)
    print(f"blueprint of {args.services} services   {blueprint:7.2f} s")
    print(
        f"tasks, scheduled in batches     {batched:7.0f} tasks/s ({commits} group commits)  "
        f"target >= 1000"
    )
    print(f"tasks, one at a time, 8 threads {singly:7.0f} tasks/s")
    print(f"reference: bare thread pool     {reference:7.0f} no-op calls/s ({WORKERS} workers)")
    print(f"  ratio batched / reference      {batched / reference:7.3f}x")
    print(f"  ratio one at a time / reference {singly / reference:6.3f}x")
    print(
        f"restart, {args.services} services + {args.pending} pending  {restart:6.2f} s "
        f"(target < 5 s); reading the journal alone {read:.3f} s, ratio {restart / read:.0f}x"
    )
    print(
        f"GET /services p99 ({args.services} services)  {slow * 1000:6.1f} ms (target < 50); "
        f"GET /robot p99 {fast * 1000:.1f} ms, ratio {slow / fast:.1f}x"
    )
    print(
        f"  while running {args.pending} pending tasks: GET /services p99 {busy_slow * 1000:.1f} "
        f"ms, GET /robot p99 {busy_fast * 1000:.1f} ms"
    )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
