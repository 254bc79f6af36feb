"""Helpers shared by the sub-commands: sizes, the options every server takes, and the one way
a ``serve`` command turns its flags into the part's settings."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from ..common.log import setup_logging
from ..common.settings import PartSettings, given_flags, load, parse_size

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound=PartSettings)


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


PORT_HELP = "TCP port (0 picks a free one: see --ready-file)."


def setting_option(settings: type[PartSettings], *decls: str, **attrs: Any) -> Callable[[F], F]:
    """A serve flag whose default, shown in ``--help``, is the setting's it gives: the one
    named after the first long flag (``--max-size`` -> ``max_size``) unless ``setting=``."""
    flag = next(d for d in decls if d.startswith("--"))
    name = attrs.pop("setting", None) or flag[2:].partition("/")[0].replace("-", "_")
    default = settings.model_fields[name].default
    return click.option(*decls, default=default, show_default=True, **attrs)


def listen_options(settings: type[PartSettings], port_help: str = PORT_HELP) -> Callable[[F], F]:
    """``--listen`` and ``--port``, first of a serve command; their defaults the settings'."""

    def decorate(command: F) -> F:
        port = setting_option(settings, "--port", type=click.IntRange(0, 65535), help=port_help)
        listen = setting_option(settings, "--listen", help="Address to listen on.")
        return listen(port(command))

    return decorate


def serve_options(command: F) -> F:
    """``--ready-file``, ``--config`` and ``-v``, last of every serve command."""
    command = click.option("-v", "--verbose", is_flag=True, help="Log more.")(command)
    return READY_FILE(CONFIG_FILE(command))


def serve_settings(
    ctx: click.Context,
    settings: type[S],
    *,
    rename: Mapping[str, str] | None = None,
    negate: Mapping[str, str] | None = None,
) -> S:
    """The settings a serve command's flags give (then ``$ZOS_<PART>_*``, then --config), with
    logging set up as they say. ``rename`` maps a parameter to the setting it gives,
    ``negate`` a ``--no-x`` flag to the setting it turns off; repeated flags become lists."""
    flags: dict[str, Any] = {}
    for name, value in given_flags(ctx).items():
        if negate and name in negate:
            flags[negate[name]] = not value
        else:
            named = (rename or {}).get(name, name)
            flags[named] = list(value) if isinstance(value, tuple) else value
    loaded = load(settings, flags)
    setup_logging(bool(getattr(loaded, "verbose", False)))
    return loaded


def write_private_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` (0600, its folder 0700), replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    tmp.replace(path)
