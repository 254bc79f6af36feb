"""The robot's engine in-process: templates, schemas, task lists, timeouts, persistence."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from zeroos.robot import BadRequest, Conflict, NotFound
from zeroos.robot.engine import Robot
from zeroos.robot.models import Priority, ServiceCreate, TaskState
from zeroos.robot.scaffold import new_template

from .templates import write_templates


@pytest.fixture
def robot(tmp_path: Path) -> Iterator[Robot]:
    bot = Robot(tmp_path / "data", task_timeout=30)
    bot.catalog.add_repository(str(write_templates(tmp_path / "repo")))
    bot.restore()
    bot.start()
    yield bot
    bot.close()


def _counter(robot: Robot, name: str = "c1", **data: object) -> str:
    service = robot.create(ServiceCreate(template="counter", name=name, data=data))
    assert service.secret
    return service.guid


def test_broken_templates_give_one_error_each_and_the_others_load(robot: Robot) -> None:
    names = sorted(t.name for t in robot.catalog.template_list())
    assert names == ["counter", "ticker"]
    problems = robot.info().template_errors
    assert len(problems) == 2
    assert any("broken_syntax.py: cannot be loaded: SyntaxError" in p for p in problems)
    assert any("No module named 'no_such_module_for_zero_robot'" in p for p in problems)
    uid = robot.catalog.template("counter").uid
    assert uid.startswith("local/")
    assert uid.endswith("/repo/counter/0.0.1")


def test_schema_violations_and_unknown_templates_are_refused(robot: Robot) -> None:
    with pytest.raises(BadRequest, match="start: Input should be a valid integer"):
        robot.create(ServiceCreate(template="counter", name="bad", data={"start": "many"}))
    with pytest.raises(NotFound, match="no template 'nothing'"):
        robot.create(ServiceCreate(template="nothing", name="x"))
    assert robot.services() == []


def test_actions_run_in_order_with_results_and_errors(robot: Robot) -> None:
    guid = _counter(robot, start=5)
    install = robot.schedule(guid, "install", {})
    add = robot.schedule(guid, "add", {"n": 3})
    boom = robot.schedule(guid, "boom", {})
    after = robot.schedule(guid, "add", {})
    assert robot.wait(guid, install.guid).result == "installed c"
    assert robot.wait(guid, add.guid).result == 8
    failed = robot.wait(guid, boom.guid)
    assert failed.state is TaskState.error
    assert failed.error is not None
    assert failed.error.message == "ValueError: the boom action always fails"
    assert "raise ValueError" in failed.error.traceback
    done = robot.wait(guid, after.guid)
    assert done.result == 9
    assert done.duration is not None
    assert done.duration >= 0
    service = robot.get(guid)
    assert service.data["start"] == 9
    assert [(e.category, e.tag, e.state.value) for e in service.state] == [
        ("actions", "install", "ok")
    ]
    with pytest.raises(BadRequest, match="has no action 'fly'"):
        robot.schedule(guid, "fly", {})


def test_a_hanging_action_times_out_and_the_next_task_runs(robot: Robot) -> None:
    guid = _counter(robot)
    hung = robot.schedule(guid, "hang", {})
    nxt = robot.schedule(guid, "add", {"n": 2})
    other = _counter(robot, "c2")
    quick = robot.schedule(other, "add", {})
    assert robot.wait(other, quick.guid, timeout=10).result == 1  # not held up by c1's hang
    failed = robot.wait(guid, hung.guid, timeout=60)
    assert failed.error is not None
    assert failed.error.message == "hang timed out after 2 s"
    assert robot.wait(guid, nxt.guid, timeout=60).result == 2


def test_the_same_service_asked_twice_is_found_and_another_conflicts(robot: Robot) -> None:
    first = robot.create(ServiceCreate(template="counter", name="s", data={"start": 1}))
    again = robot.create(ServiceCreate(template="counter", name="s", data={"start": 1}))
    assert first.secret
    assert again.secret is None
    assert again.guid == first.guid
    with pytest.raises(Conflict, match="exists already with other data"):
        robot.create(ServiceCreate(template="counter", name="s", data={"start": 2}))
    with pytest.raises(Conflict, match="exists already with template"):
        robot.create(ServiceCreate(template="ticker", name="s"))


def test_recurring_actions_run_at_their_period(robot: Robot) -> None:
    service = robot.create(ServiceCreate(template="ticker", name="t"))
    deadline = time.monotonic() + 30
    while robot.get(service.guid).data["ticks"] < 3:
        assert time.monotonic() < deadline, "the recurring tick did not run 3 times"
        time.sleep(0.05)
    ticks = robot.tasks(service.guid, TaskState.ok)
    assert {t.action_name for t in ticks} == {"tick"}
    assert all(t.priority.name == "recurring" for t in ticks)


def test_services_and_pending_tasks_survive_a_new_robot(tmp_path: Path) -> None:
    repo = str(write_templates(tmp_path / "repo"))
    first = Robot(tmp_path / "data", task_timeout=30)
    first.catalog.add_repository(repo)
    first.restore()
    guid = _counter(first, start=1)
    done = first.schedule(guid, "add", {"n": 1})
    first.wait(guid, done.guid)
    first.schedule(guid, "slow", {"seconds": 1.5})  # running when the robot stops
    deadline = time.monotonic() + 30
    while not first.tasks(guid, TaskState.running):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    pending = first.schedule(guid, "add", {"n": 10})
    first.close()

    second = Robot(tmp_path / "data", task_timeout=30)
    second.catalog.add_repository(repo)
    assert second.restore() == 1
    try:
        assert second.get(guid).data["start"] == 2
        assert second.task(guid, done.guid).result == 2
        interrupted = [t for t in second.tasks(guid) if t.action_name == "slow"]
        assert interrupted[0].state is TaskState.error  # not run twice
        assert interrupted[0].error is not None
        assert interrupted[0].error.message == "the robot stopped while this task ran"
        assert second.wait(guid, pending.guid, timeout=30).result == 12
    finally:
        second.close()


CHILD_MAKER = """
from pydantic import BaseModel
from zeroos.robot import TemplateBase
from zeroos.robot.models import ServiceCreate


class Parent(TemplateBase):
    template_name = "parent"

    class Data(BaseModel):
        child: str

    def install(self) -> str:
        ask = ServiceCreate(
            template="counter", name=self.data.child, data={"start": 40}, parent=self.guid
        )
        made = self.api.services.create(ask)
        task = self.api.services.schedule(made.guid, "add", {"n": 2})
        return str(self.api.services.wait(made.guid, task.guid, timeout=30).result)
"""


def test_a_service_creates_and_tasks_a_child(robot: Robot, tmp_path: Path) -> None:
    folder = tmp_path / "more" / "templates" / "parent"
    folder.mkdir(parents=True)
    (folder / "parent.py").write_text(CHILD_MAKER)
    robot.catalog.add_repository(str(tmp_path / "more"))
    parent = robot.create(ServiceCreate(template="parent", name="p", data={"child": "kid"}))
    task = robot.schedule(parent.guid, "install", {})
    assert robot.wait(parent.guid, task.guid, timeout=60).result == "42"
    (kid,) = robot.services(parent=parent.guid)
    assert kid.name == "kid"


def test_template_new_writes_a_template_that_loads_and_runs(robot: Robot, tmp_path: Path) -> None:
    path = new_template(tmp_path / "mine", "web_site")
    assert path == tmp_path / "mine" / "templates" / "web_site" / "web_site.py"
    robot.catalog.add_repository(str(tmp_path / "mine"))
    service = robot.create(ServiceCreate(template="web_site", name="w"))
    task = robot.schedule(service.guid, "install", {})
    assert robot.wait(service.guid, task.guid).state is TaskState.ok
    assert [e.category for e in robot.get(service.guid).state] == ["actions"]
    with pytest.raises(BadRequest, match="exists already"):
        new_template(tmp_path / "mine", "web_site")
    with pytest.raises(BadRequest, match="is not a template name"):
        new_template(tmp_path / "mine", "Web Site")


def test_priorities_order_the_task_list(robot: Robot) -> None:
    """system < recurring < normal, then the order they were scheduled in."""
    guid = _counter(robot)
    first = robot.schedule(guid, "slow", {"seconds": 1.0})  # holds the list while we queue
    deadline = time.monotonic() + 30
    while robot.task(guid, first.guid).state is TaskState.new:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    normal = robot.schedule(guid, "add", {"n": 1})
    recurring = robot.schedule(guid, "add", {"n": 10}, Priority.recurring)
    system = robot.schedule(guid, "add", {"n": 100}, Priority.system)
    later_system = robot.schedule(guid, "add", {"n": 1000}, Priority.system)
    done = [robot.wait(guid, t.guid) for t in (normal, recurring, system, later_system)]
    order = sorted(done, key=lambda t: t.started or 0.0)
    assert [t.guid for t in order] == [system.guid, later_system.guid, recurring.guid, normal.guid]
    assert [t.result for t in order] == [100, 1100, 1110, 1111]
