"""`zos robot`: run zero-robot, and look at and task its services."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Column, Table

from ..robot.settings import RobotSettings
from .util import listen_options, serve_options, serve_settings

if TYPE_CHECKING:
    from ..robot.client import RobotClient
    from ..robot.models import Task

URL = click.option(
    "--url", envvar="ZOS_ROBOT_URL", default="http://127.0.0.1:6600", show_default=True,
    help="The robot's URL ($ZOS_ROBOT_URL).",
)  # fmt: skip
TOKEN = click.option("--token", envvar="ZOS_ROBOT_TOKEN", help="A zero-id JWT ($ZOS_ROBOT_TOKEN).")
console = Console()


@click.group()
def robot() -> None:
    """zero-robot: templates from git, services with task lists, blueprints."""


@robot.command()
@listen_options(RobotSettings)
@click.option("--template-repo", multiple=True, metavar="URL[#REF]|PATH",
              help="A repository of templates: git URL or local folder (repeatable).")  # fmt: skip
@click.option("--builtin/--no-builtin", default=None,
              help="Load the built-in templates (default: yes).")  # fmt: skip
@click.option("--data", default="zerorobot-data", show_default=True, metavar="DIR|zdb://...",
              help="Folder of the services, task lists and clones, or "
                   "zdb://[:password@]host:port/namespace to keep them in zero-db.")  # fmt: skip
@click.option("--work", metavar="DIR", help="Folder of the template clones with --data zdb://.")
@click.option("--workers", type=click.IntRange(1, 1024), help="Threads running tasks (32).")
@click.option("--task-timeout", type=float, help="Seconds an action may run (default 300).")
@click.option("--id", "id", metavar="URL", help="zero-id's URL: callers show its JWTs.")
@click.option("--admin-org", metavar="ORG", help="Members of ORG may do everything.")
@click.option("--user-org", metavar="ORG", help="Members of ORG may run services of their own.")
@click.option("--audience", help="Accept only tokens for this audience (and those without).")
@click.option("--dev", is_flag=True, help="No authentication: anyone reaching the port may act.")
@click.option("--webhook-secret", metavar="SECRET",
              help="Take GitHub push webhooks signed with SECRET (or env).")  # fmt: skip
@serve_options
@click.pass_context
def serve(ctx: click.Context, /, **_: object) -> None:
    """Start zero-robot (stops cleanly on Ctrl-C or SIGTERM).

    Every flag may also come from $ZOS_ROBOT_<FLAG> or a --config file.
    """
    from ..robot.main import run

    run(serve_settings(ctx, RobotSettings), announce=click.echo)


def _client(url: str, token: str | None) -> RobotClient:
    from ..robot.client import RobotClient

    return RobotClient(url, token=token)


@robot.command("ls")
@URL
@TOKEN
@click.option("--template", "template_name", help="Only services of this template name.")
def ls(url: str, token: str | None, template_name: str | None) -> None:
    """List the services."""
    with _client(url, token) as client:
        services = client.services(**({"template_name": template_name} if template_name else {}))
    table = Table("name", "template", "guid", "state")
    for s in services:
        states = ", ".join(f"{e.category}:{e.tag}={e.state.value}" for e in s.state)
        table.add_row(s.name, s.template, s.guid, states)
    console.print(table)


@robot.command("get")
@URL
@TOKEN
@click.argument("service")
def get(url: str, token: str | None, service: str) -> None:
    """Show one service (by name or guid) as JSON."""
    with _client(url, token) as client:
        click.echo(client.service(service).model_dump_json(indent=2))


@robot.command("blueprint")
@URL
@TOKEN
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def blueprint(url: str, token: str | None, file: Path) -> None:
    """Apply a YAML blueprint: create its services, then schedule its actions."""
    with _client(url, token) as client:
        result = client.blueprint(file.read_text())
    table = Table("service", "template", "guid")
    for s in result.services:
        table.add_row(s.name, s.template, s.guid)
    console.print(table)
    click.echo(f"{len(result.tasks)} task(s) scheduled")


@robot.group()
def template() -> None:
    """Templates: scaffold one."""


@template.command("new")
@click.argument("name")
@click.option("--dir", "root", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="The repository to add it to.")  # fmt: skip
def template_new(name: str, root: Path) -> None:
    """Write templates/NAME/NAME.py, a template to fill in."""
    from ..robot.scaffold import new_template

    click.echo(new_template(root, name))


@robot.command("templates")
@URL
@TOKEN
def templates(url: str, token: str | None) -> None:
    """List the templates the robot can instantiate."""
    with _client(url, token) as client:
        found = client.templates()
    table = Table(Column("uid", no_wrap=True), "actions")
    for t in found:
        table.add_row(t.uid, ", ".join(t.actions))
    console.print(table)


@robot.group()
def task() -> None:
    """A service's task list."""


def _task_table(tasks: list[Task]) -> Table:
    table = Table("action", "state", "guid", "duration", "result / error")
    now = time.time()
    for t in tasks:
        outcome = t.error.message if t.error else json.dumps(t.result)
        if t.duration is not None:
            took = f"{t.duration:.3f}s"
        elif t.started is not None:
            took = f"{now - t.started:.1f}s..."
        else:
            took = ""
        table.add_row(t.action_name, t.state.value, t.guid, took, outcome)
    return table


@task.command("ls")
@URL
@TOKEN
@click.argument("service")
@click.option("--state", type=click.Choice(["new", "running", "ok", "error"]))
@click.option("--watch", is_flag=True, help="Keep the table up to date until no task waits.")
def task_ls(url: str, token: str | None, service: str, state: str | None, watch: bool) -> None:
    """List a service's tasks (live with --watch)."""
    from rich.live import Live

    from ..robot.models import TaskState

    wanted = TaskState(state) if state else None
    with _client(url, token) as client:
        guid = client.service(service).guid
        tasks = client.tasks(guid, wanted)
        if not watch:
            console.print(_task_table(tasks))
            return
        with Live(_task_table(tasks), console=console, refresh_per_second=4) as live:
            while any(t.state in (TaskState.new, TaskState.running) for t in tasks):
                time.sleep(0.25)
                tasks = client.tasks(guid, wanted)
                live.update(_task_table(tasks))


def progress_line(client: RobotClient, guid: str, t: Task, label: str) -> str:
    """One line on a task as it goes: its state, for how long, what waits before it, and the
    last line it logged."""
    from ..robot.models import TaskState

    if t.state is TaskState.new:
        ahead = sum(
            1
            for other in client.tasks(guid, TaskState.new)
            if (other.priority, other.created) < (t.priority, t.created)
        )
        running = client.tasks(guid, TaskState.running)
        busy = f", {running[0].action_name} running" if running else ""
        return f"{label}: waiting, {ahead} task(s) ahead{busy}"
    since = time.time() - (t.started or t.created)
    lines = client.logs(guid, t.guid)
    said = f" | {lines[-1].message}" if lines else ""
    return f"{label}: {t.state.value} for {since:.1f}s{said}"


@task.command("run")
@URL
@TOKEN
@click.argument("service")
@click.argument("action")
@click.option("--args", "args", default="{}", help="The action's arguments as a JSON object.")
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option("--timeout", type=float, default=300.0, show_default=True)
def task_run(
    url: str, token: str | None, service: str, action: str, args: str, wait: bool, timeout: float
) -> None:
    """Schedule ACTION on SERVICE (and wait for its result)."""
    from ..robot.errors import BadRequest, RobotError
    from ..robot.models import TaskState

    try:
        parsed = json.loads(args)
    except ValueError as exc:
        raise BadRequest(f"--args is not JSON: {exc}") from exc
    with _client(url, token) as client:
        guid = client.service(service).guid
        t = client.schedule(guid, action, parsed)
        deadline = time.monotonic() + timeout
        label = f"{action} on {service}"
        with console.status(f"{label}: {t.state.value}") as status:
            while wait and t.state in (TaskState.new, TaskState.running):
                if time.monotonic() > deadline:
                    raise RobotError(f"task {t.guid} did not finish in {timeout:g} s")
                time.sleep(0.1)
                t = client.task(guid, t.guid)
                status.update(progress_line(client, guid, t, label))
    click.echo(t.model_dump_json(indent=2))
    if t.state is TaskState.error:
        raise RobotError(f"{action} failed: {t.error.message if t.error else '?'}")


@robot.command("logs")
@URL
@TOKEN
@click.argument("service")
@click.option("--task", "task_guid", metavar="GUID", help="Only the lines of this task.")
@click.option("--follow", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
def logs(url: str, token: str | None, service: str, task_guid: str | None, follow: bool) -> None:
    """What a service's actions logged (the last 1,000 lines)."""
    with _client(url, token) as client:
        guid = client.service(service).guid
        seen = 0.0
        while True:
            table = Table("time", "level", "task", "message")
            for line in client.logs(guid, task_guid):
                if line.time > seen:
                    stamp = time.strftime("%H:%M:%S", time.localtime(line.time))
                    table.add_row(stamp, line.level, (line.task or "")[:8], line.message)
                    seen = line.time
            if table.row_count or not follow:
                console.print(table)
            if not follow:
                return
            time.sleep(1.0)
