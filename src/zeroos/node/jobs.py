"""The job runner: pops jobs off ``core:default``, runs them, pushes flags and results.

A client RPUSHes ``{id, command, arguments, queue, max_time, stream, tags}``; the node pushes a
flag on ``result:<id>:flag`` as soon as the job is taken (no expiry while it runs: 0-core-client
reads ``LTTL == -1`` as running), then the result on ``result:<id>``; both are kept
:data:`RESULT_TTL` seconds. Jobs naming the same ``queue`` run one after the other, in the
order they came; ``max_time`` seconds end a job (TIMEOUT).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from ..common.log import event
from .commands import COMMANDS, ProcessOutcome
from .context import RESULT_TTL, Context, Job, NodeState, time_ms
from .errors import CommandError, UnknownCommand
from .lists import Lists

log = logging.getLogger("zeroos.node")

JOBS_QUEUE = b"core:default"
JSON_LEVEL = 20
# result codes: HTTP-like, as 0-core's (a process's exit code is its result's code)
OK, BAD_REQUEST, NOT_FOUND, CONFLICT, FAILED = 0, 400, 404, 409, 500


class BadJob(ValueError):
    """A job that is not the JSON object 0-core's protocol defines; ``job`` when its id is known."""

    def __init__(self, line: str, job: Job | None = None) -> None:
        super().__init__(line)
        self.job = job


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = body.get(name, default)
    if value is not None and not isinstance(value, kind):
        raise BadJob(f"job field {name!r} has the wrong type ({type(value).__name__})")
    return value


def parse_job(raw: bytes) -> Job:
    """The job in what a client pushed; BadJob with one line when it is not one."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadJob(f"job is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadJob("job is not a JSON object")
    job_id = body.get("id")
    if not isinstance(job_id, str) or not job_id:
        raise BadJob("job has no id")
    job = Job(id=job_id, command="", arguments=None)
    try:
        job.command = _field(body, "command", str, "") or ""
        job.arguments = body.get("arguments")
        job.queue = _field(body, "queue", str, None)
        max_time = _field(body, "max_time", int, None)
        job.max_time = max_time if max_time else None
        job.stream = bool(_field(body, "stream", bool, False))
        tags = _field(body, "tags", list, None)
        if tags is not None and not all(isinstance(t, str) for t in tags):
            raise BadJob("job field 'tags' must be a list of strings")
        job.tags = tags
    except BadJob as exc:
        # the id is known: the client gets its ERROR result (Runner.accept)
        raise BadJob(str(exc), job) from None
    return job


class Runner:
    """Takes jobs off the queue and runs each in a task; knows the running ones."""

    def __init__(self, lists: Lists) -> None:
        self.lists = lists
        self.node = NodeState(lists=lists, jobs=self)
        self._running: dict[str, Job] = {}
        self._queues: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        lists.watch(JOBS_QUEUE, self.take)

    def running(self) -> list[Job]:
        return list(self._running.values())

    def find(self, job_id: str) -> Job | None:
        return self._running.get(job_id)

    def take(self) -> None:
        """Take every job waiting on the queue (called on each push to it)."""
        while (raw := self.lists.pop(JOBS_QUEUE)) is not None:
            self.accept(raw)

    def accept(self, raw: bytes) -> None:
        """Start one job as pushed (an ERROR result for a bad one that names its id)."""
        try:
            job = parse_job(raw)
        except BadJob as exc:
            if exc.job is not None:
                self._flag(exc.job)
                self._finish(exc.job, "ERROR", BAD_REQUEST, 0, str(exc), 0)
            else:
                event(log, "bad_job", level=logging.WARNING, reason=str(exc), size=len(raw))
            return
        if self._in_use(job.id):
            # the first job of that id keeps running; its flag stays as it is
            self._finish(job, "DUPLICATE_ID", CONFLICT, 0, f"job id {job.id!r} is in use", 0)
            return
        self._start(job)

    def _in_use(self, job_id: str) -> bool:
        return job_id in self._running or self.lists.exists(self._flag_key(job_id))

    def submit(self, job: Job) -> None:
        """Start a job made by the node itself (corex.dispatch); its id must be free."""
        if self._in_use(job.id):
            raise CommandError(f"job id {job.id!r} is in use")
        self._start(job)

    def _start(self, job: Job) -> None:
        self._flag(job)
        self._running[job.id] = job
        task = asyncio.create_task(self._run(job), name=f"job {job.id}")
        job.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _flag_key(job_id: str) -> bytes:
        return f"result:{job_id}:flag".encode()

    def _flag(self, job: Job) -> None:
        self.lists.push(self._flag_key(job.id), [b"1"])

    async def _run(self, job: Job) -> None:
        lock = self._queues.setdefault(job.queue, asyncio.Lock()) if job.queue else None
        start = time_ms()
        try:
            if lock is not None:
                async with lock:
                    await self._execute(job)
            else:
                await self._execute(job)
        except asyncio.CancelledError:
            # killed while waiting for its queue: it never ran
            self._finish(job, "KILLED", FAILED, 0, "job killed", time_ms() - start)
        finally:
            self._running.pop(job.id, None)
            if lock is not None and not lock.locked() and self._queues.get(job.queue or "") is lock:
                del self._queues[job.queue or ""]

    async def _execute(self, job: Job) -> None:
        job.starttime = start = time_ms()
        command = COMMANDS.get(job.command)
        data: Any = ""
        streams = ["", ""]
        level = 0
        try:
            if command is None:
                raise UnknownCommand(f"unknown command {job.command!r}")
            args = command.parse(job.arguments)
            async with asyncio.timeout(job.max_time) as limit:
                outcome = await command.run(Context(job, self.node), args)
        except UnknownCommand as exc:
            state, code, data = "UNKNOWN_CMD", NOT_FOUND, str(exc)
        except CommandError as exc:
            state, code, data = "ERROR", BAD_REQUEST, str(exc)
        except TimeoutError:
            if not limit.expired():
                raise
            state, code, data = "TIMEOUT", FAILED, f"job ran over its max_time of {job.max_time} s"
        except asyncio.CancelledError:
            if not job.killed:
                raise
            state, code, data = "KILLED", FAILED, "job killed"
        except Exception as exc:
            # a bug of a command: the client gets its line, the log the whole story
            log.exception("event=command_failed command=%s", job.command)
            state, code, data = "ERROR", FAILED, f"{job.command} failed: {exc}"
        else:
            if isinstance(outcome, ProcessOutcome):
                streams = [outcome.stdout, outcome.stderr]
                code = outcome.code
                state = "SUCCESS" if code == 0 else ("KILLED" if job.killed else "ERROR")
            else:
                state, code, level, data = "SUCCESS", OK, JSON_LEVEL, json.dumps(outcome)
        self._finish(job, state, code, level, data, time_ms() - start, streams)

    def _finish(
        self,
        job: Job,
        state: str,
        code: int,
        level: int,
        data: str,
        took: int,
        streams: list[str] | None = None,
    ) -> None:
        result = {
            "id": job.id,
            "command": job.command,
            "state": state,
            "code": code,
            "level": level,
            "data": data,
            "streams": streams or ["", ""],
            "critical": data if state != "SUCCESS" else "",
            "starttime": job.starttime or time_ms(),
            "time": took,
            "tags": job.tags,
        }
        key = f"result:{job.id}".encode()
        self.lists.push(key, [json.dumps(result).encode()])
        self.lists.expire(key, RESULT_TTL)
        self.lists.expire(self._flag_key(job.id), RESULT_TTL)
        # output nobody read (a job killed or timed out never sends its end-of-stream line)
        self.lists.expire(f"stream:{job.id}".encode(), RESULT_TTL)

    async def stop(self) -> None:
        """Cancel every job (their processes are ended) and wait for them."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for file in self.node.files.values():
            file.close()
        self.node.files.clear()


__all__ = ["JOBS_QUEUE", "BadJob", "Runner", "parse_job"]
