"""The robot's bounded pool of workers that consume the services' task lists.

A service with tasks waiting is queued once; a worker takes it, runs its next task, and queues
it again at the back if more wait (services take turns; one service never runs two tasks at
once). A watchdog fails a task whose action outlives its timeout, lets the service move on and
starts a worker in place of the one left stuck in it (Python cannot stop a thread).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from ..common.log import event
from .errors import StoreError
from .models import Task, TaskFailure
from .runtime import ServiceRuntime

log = logging.getLogger("zeroos.robot")
WATCH_EVERY = 0.05  # seconds between the watchdog's looks at running tasks


@dataclass
class _Run:
    """One task a worker runs, and when it is too late."""

    runtime: ServiceRuntime
    task: Task
    deadline: float
    abandoned: bool = False


class WorkerPool:
    """``size`` worker threads running the tasks of the services it is told have work."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ready: deque[ServiceRuntime] = deque()
        self._cond = threading.Condition()
        self._runs: dict[int, _Run] = {}  # worker thread id -> what it runs
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._watchdog = threading.Thread(target=self._watch, name="robot-watchdog", daemon=True)
        self.abandoned = 0  # workers left behind in an action that timed out

    def start(self) -> None:
        """Start the workers and the watchdog."""
        for _ in range(self.size):
            self._spawn()
        self._watchdog.start()

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._work, name="robot-worker", daemon=True)
        self._threads.append(thread)
        thread.start()

    def wake(self, runtime: ServiceRuntime) -> None:
        """Tell the pool ``runtime`` may have tasks waiting."""
        with self._cond:
            if not runtime.claimed and runtime.has_work():
                runtime.claimed = True
                self._ready.append(runtime)
                self._cond.notify()

    def _release(self, runtime: ServiceRuntime) -> None:
        with self._cond:
            if runtime.has_work():
                self._ready.append(runtime)  # its next task, after the others' turn
                self._cond.notify()
            else:
                runtime.claimed = False

    def _work(self) -> None:
        me = threading.get_ident()
        while True:
            with self._cond:
                while not self._ready and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                runtime = self._ready.popleft()
            try:
                task = runtime.take()
            except StoreError as exc:
                event(log, "task_not_started", level=logging.ERROR, error=str(exc))
                task = None
            if task is None:
                self._release(runtime)
                continue
            run = _Run(runtime, task, time.monotonic() + runtime.timeout)
            with self._cond:
                self._runs[me] = run
            outcome = runtime.run(task)
            with self._cond:
                self._runs.pop(me, None)
                if run.abandoned:  # the watchdog failed it and started a worker in our place
                    return
            runtime.finish(task, outcome)
            self._release(runtime)

    def _watch(self) -> None:
        while True:
            time.sleep(WATCH_EVERY)
            now = time.monotonic()
            with self._cond:
                if self._stopping:
                    return
                late = [(i, r) for i, r in self._runs.items() if r.deadline <= now]
                for ident, run in late:
                    run.abandoned = True
                    del self._runs[ident]
                    self.abandoned += 1
            for _, run in late:
                message = f"{run.task.action_name} timed out after {run.runtime.timeout:g} s"
                run.runtime.finish(run.task, TaskFailure(message=message))
                self._release(run.runtime)
                with self._cond:
                    if not self._stopping:
                        self._spawn()

    def stop(self) -> None:
        """Stop the workers once their tasks end (a stuck one is left behind)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + 2.0
        for thread in self._threads:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
