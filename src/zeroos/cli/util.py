"""Helpers shared by the sub-commands: sizes, the options every server takes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from ..common.settings import parse_size


class SizeParam(click.ParamType):  # type: ignore[type-arg]
    """A byte count: 1048576, 512K, 256M, 2G (powers of 1024)."""

    name = "BYTES"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


SIZE = SizeParam()


READY_FILE = click.option(
    "--ready-file",
    metavar="PATH",
    help="Write JSON (part, pid, addresses, version) here once listening; removed at stop.",
)

CONFIG_FILE = click.option(
    "--config",
    metavar="PATH",
    help="A YAML or TOML file of settings (flags and $ZOS_<PART>_* variables win over it).",
)


def write_private_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` (0600, its folder 0700), replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    tmp.replace(path)
