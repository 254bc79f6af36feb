"""`zos hub`: run zero-hub, and push, list, pull and arrange flists on one."""

from __future__ import annotations

import click

from ..common.log import setup_logging
from ..common.settings import given_flags, load
from .util import CONFIG_FILE, READY_FILE, SIZE


@click.group()
def hub() -> None:
    """zero-hub: where flists are uploaded, found and served."""


@hub.command()
@click.option("--listen", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=5555, show_default=True)
@click.option("--data", default="zerohub-data", show_default=True,
              help="Folder of the flists (and of the embedded servers).")  # fmt: skip
@click.option("--store", metavar="URL",
              help="Block store (zdb://host:port/ns, zstor://zstor.yaml, dir:///path); "
                   "default: an embedded zero-db.")  # fmt: skip
@click.option("--id", "id", metavar="URL", help="zero-id's URL; default: an embedded zero-id.")
@click.option("--audience", help="Accept only tokens for this audience (and those without).")
@click.option("--max-upload", type=SIZE, help="Largest upload (default 2G).")
@click.option("--max-expand", type=SIZE, help="Largest unpacked archive (default 16G).")
@READY_FILE
@CONFIG_FILE
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def serve(ctx: click.Context, /, **_: object) -> None:
    """Start zero-hub (stops cleanly on Ctrl-C or SIGTERM).

    Every flag may also come from $ZOS_HUB_<FLAG> or a --config file.
    """
    from ..hub.main import run
    from ..hub.settings import HubSettings

    settings = load(HubSettings, given_flags(ctx))
    setup_logging(settings.verbose)
    run(settings, announce=click.echo)
