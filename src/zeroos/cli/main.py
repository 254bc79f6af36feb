"""`zos`: the Zero-OS command line."""

from __future__ import annotations

import sys

import click

from .._version import __version__
from ..common.errors import ZosError
from .flist import flist
from .flist_mount import mount_cmd, umount_cmd
from .hub import hub
from .identity import identity
from .node import node
from .robot import robot
from .stor import stor
from .zdb import zdb


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="zos")
def zos() -> None:
    """Zero-OS in Python: run the grid's services and talk to them.

    Each part of the grid is a sub-command; every server starts with `zos PART serve`.
    """


zos.add_command(zdb)
zos.add_command(identity)
zos.add_command(stor)
zos.add_command(flist)
zos.add_command(hub)
zos.add_command(node)
zos.add_command(robot)
flist.add_command(mount_cmd)  # in a module of its own: the FUSE side of flists
flist.add_command(umount_cmd)


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
