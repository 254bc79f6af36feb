"""`zos`: the Zero-OS command line."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

import click

from .._version import __version__
from ..common.errors import ZosError


def _flist() -> click.Command:
    from .flist import flist
    from .flist_mount import mount_cmd, umount_cmd  # a module of its own: the FUSE side

    flist.add_command(mount_cmd)
    flist.add_command(umount_cmd)
    return flist


# sub-command -> "module:attribute" (or a function making it), imported only when it runs or
# is listed: `zos zdb serve` then never loads zero-id's, the hub's or the node's libraries,
# which would add about a second to every server start (tests/test_house.py guards it)
_PARTS: dict[str, str | Callable[[], click.Command]] = {
    "zdb": "zdb:zdb",
    "id": "identity:identity",
    "stor": "stor:stor",
    "flist": _flist,
    "hub": "hub:hub",
    "node": "node:node",
    "robot": "robot:robot",
}


class _Parts(click.Group):
    """A group whose parts' commands load on first use (click's lazy sub-command pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_PARTS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        where = _PARTS.get(cmd_name)
        if where is None:
            return None
        if callable(where):
            command = where()
        else:
            module, attribute = where.split(":")
            command = getattr(importlib.import_module(f".{module}", __package__), attribute)
        self.add_command(command, cmd_name)
        return command


@click.group(
    cls=_Parts,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="zos")
def zos() -> None:
    """Zero-OS in Python: run the grid's services and talk to them.

    Each part of the grid is a sub-command; every server starts with `zos PART serve`.
    """


def main(argv: list[str] | None = None) -> None:
    """Run `zos`, turning the errors a user can meet into one line on stderr."""
    try:
        # standalone_mode=False makes click return a command's ctx.exit(code) instead of exiting
        code = zos.main(args=argv, prog_name="zos", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except ZosError as exc:
        # every part's errors end here, the one place that prints them
        click.echo(f"error: {exc}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
