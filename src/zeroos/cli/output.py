"""What several sub-commands show the same way: progress bars, byte sizes, tables, JSON."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

err_console = Console(stderr=True)


@contextlib.contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar of bytes on stderr (only on a terminal); yields the advance callback."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def human_size(n: int) -> str:
    """A byte count for people: 512 B, 1.5 MiB, 2.0 GiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, header: bool = True
) -> None:
    """A listing on stdout as a table (rich): one row a thing, ``headers`` its columns;
    ``header=False``: a bare two-column list of facts (name, value)."""
    table = Table(*headers) if header else Table(*headers, show_header=False, box=None)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def echo_json(value: Any) -> None:
    """An answer on stdout: text as it is, anything else as indented JSON, None as nothing."""
    if value is None:
        return
    click.echo(value if isinstance(value, str) else json.dumps(value, indent=2))
