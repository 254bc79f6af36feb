"""The conformance suite of zero-robot's store: :func:`check_robot_store` runs every check
against a way to open one store (a folder's journal, a zero-db namespace's)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from ..robot.journal import (
    KEEP_LOG,
    Record,
    ServiceStore,
    drop_line,
    log_line,
    remove_line,
    service_line,
    task_line,
)
from ..robot.models import LogLine, Service, Task, TaskState

DIGEST = "5e" * 32  # a secret's sha256, as a service line holds it
StoreMaker = Callable[[], ServiceStore]  # opens the same store again at every call


def _service(name: str) -> Service:
    return Service(guid=str(uuid.uuid4()), name=name, template="h/a/r/t/1", created=time.time())


def _task(service: Service, action: str = "add", **fields: object) -> Task:
    return Task(
        guid=str(uuid.uuid4()),
        service_guid=service.guid,
        action_name=action,
        created=time.time(),
        **fields,  # type: ignore[arg-type]
    )


def _reopened(make: StoreMaker) -> dict[str, Record]:
    store = make()
    try:
        records, errors = store.load()
    finally:
        store.close()
    if errors:
        raise AssertionError(f"the store reports unreadable entries: {errors}")
    return {r.service.guid: r for r in records}


def _kept(make: StoreMaker, service: Service) -> Record:
    record = _reopened(make).get(service.guid)
    assert record is not None, f"service {service.name} is not kept"
    return record


def check_empty(make: StoreMaker) -> None:
    """A new store holds nothing."""
    assert _reopened(make) == {}


def check_services_and_tasks_survive_a_reopen(make: StoreMaker) -> None:
    """What was written (waited for) is there after a reopen, each task as last written."""
    store = make()
    store.load()
    web, db = _service("web"), _service("db")
    first, second = _task(web), _task(web, "install", args={"n": 1})
    store.write([service_line(web, DIGEST), service_line(db, "h2"), task_line(first)])
    store.write([task_line(second)])
    second.state, second.result = TaskState.ok, {"got": [1, 2]}
    web.data = {"start": 3}
    store.write([task_line(second), service_line(web, DIGEST)])
    store.close()
    kept = _reopened(make)
    assert set(kept) == {web.guid, db.guid}
    assert kept[web.guid].service.data == {"start": 3}
    assert kept[web.guid].secret_hash == DIGEST
    tasks = {t.guid: t for t in kept[web.guid].tasks}
    assert tasks == {first.guid: first, second.guid: second}
    assert kept[db.guid].tasks == []


def check_dropped_tasks_and_removed_services_stay_gone(make: StoreMaker) -> None:
    """Dropped finished tasks and removed services (with their tasks) do not come back."""
    store = make()
    store.load()
    keep, gone = _service("keep"), _service("gone")
    tasks = [_task(keep) for _ in range(5)]
    store.write([service_line(keep, ""), service_line(gone, ""), task_line(_task(gone))])
    store.write([task_line(t) for t in tasks])
    store.write([drop_line(keep.guid, [tasks[0].guid, tasks[1].guid]), remove_line(gone.guid)])
    store.write([task_line(_task(gone))])  # a late task of a deleted service: gone with it
    store.close()
    kept = _reopened(make)
    assert list(kept) == [keep.guid]
    assert [t.guid for t in kept[keep.guid].tasks] == [t.guid for t in tasks[2:]]


def check_unwaited_writes_are_durable_after_close(make: StoreMaker) -> None:
    """Writes that did not wait are written by ``close``."""
    store = make()
    store.load()
    service = _service("s")
    store.write([service_line(service, "")], wait=False)
    tasks = [_task(service) for _ in range(50)]
    for task in tasks:
        store.write([task_line(task)], wait=False)
    store.close()
    assert len(_kept(make, service).tasks) == 50


def check_concurrent_writers_share_commits(make: StoreMaker) -> None:
    """Many threads writing at once: every write is kept, in fewer commits than writes."""
    store = make()
    store.load()
    service = _service("busy")
    store.write([service_line(service, "")])
    before = store.batches
    made: list[Task] = []
    lock = threading.Lock()

    def writer() -> None:
        for _ in range(40):
            task = _task(service)
            store.write([task_line(task)])
            with lock:
                made.append(task)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    commits = store.batches - before
    store.close()
    assert len(made) == 320
    assert commits < 320, f"{commits} commits for 320 writes: no group commit"
    assert {t.guid for t in _kept(make, service).tasks} == {t.guid for t in made}


def check_compaction_keeps_the_state(make: StoreMaker) -> None:
    """A journal compacted many times over replays to the state last written, and the state
    written after compactions is there too."""
    store = make()
    store.load()
    store.compact_at = 4096
    service = _service("compact")
    store.write([service_line(service, "")])
    task = _task(service)
    for n in range(300):  # the same task rewritten: the journal grows, the state does not
        task.result = n
        store.write([task_line(task)], wait=n % 10 == 0)
    extra = _task(service, "last")
    store.write([task_line(extra)])
    store.close()
    kept = _kept(make, service)
    assert {t.guid: t.result for t in kept.tasks} == {task.guid: 299, extra.guid: None}
    again = make()
    again.load()
    generation = again.generation
    again.close()
    assert generation > 0, "300 rewrites of 4 KiB compacted nothing"


def check_logs_are_kept_bounded_and_go_with_their_service(make: StoreMaker) -> None:
    """A service's log lines come back after a reopen, the newest :data:`KEEP_LOG` of them
    (compactions included); a removed service's lines are gone."""
    store = make()
    store.load()
    store.compact_at = 4096
    service, gone = _service("talks"), _service("gone")
    store.write([service_line(service, ""), service_line(gone, "")])
    written = [
        LogLine(time=time.time(), level="info", task=None, message=f"line {n}")
        for n in range(KEEP_LOG + 200)
    ]
    for start in range(0, len(written), 40):
        store.write([log_line(service.guid, written[start : start + 40])], wait=start % 200 == 0)
    store.write([log_line(gone.guid, written[:3]), remove_line(gone.guid)])
    store.close()
    kept = _reopened(make)
    assert list(kept) == [service.guid]
    assert kept[service.guid].logs == written[-KEEP_LOG:]
    again = make()
    again.load()
    generation = again.generation
    again.close()
    assert generation > 0, "1,200 log lines in 4 KiB generations compacted nothing"


CHECKS = [
    check_empty,
    check_services_and_tasks_survive_a_reopen,
    check_dropped_tasks_and_removed_services_stay_gone,
    check_unwaited_writes_are_durable_after_close,
    check_concurrent_writers_share_commits,
    check_compaction_keeps_the_state,
    check_logs_are_kept_bounded_and_go_with_their_service,
]


def check_robot_store(make_fresh: Callable[[], StoreMaker]) -> None:
    """Run every check, each on a fresh store: ``make_fresh()`` gives a maker opening a new,
    empty place (a new folder, a new namespace) again at each call."""
    for check in CHECKS:
        check(make_fresh())
