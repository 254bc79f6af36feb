"""`zos node`: run a zero-os node (0-core's protocol)."""

from __future__ import annotations

from typing import Any

import click

from ..common.log import setup_logging
from ..common.settings import given_flags, load
from ..node.main import run
from ..node.settings import NodeSettings
from .util import CONFIG_FILE, READY_FILE


@click.group()
def node() -> None:
    """zero-os node: runs processes (later containers and VMs) driven by 0-core-client."""


def _default(name: str) -> Any:
    return NodeSettings.model_fields[name].default


@node.command()
@click.option(
    "--listen", default=_default("listen"), show_default=True, help="Address to listen on."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=_default("port"),
    show_default=True,
    help="TCP port, TLS and plain RESP (0 picks a free one: see --ready-file).",
)
@click.option("--org", help="Organisation whose members may drive the node (with --id).")
@click.option("--id", "id_url", metavar="URL", help="zero-id's URL: it signs the clients' tokens.")
@click.option("--dev", is_flag=True, help="No authentication at all (loopback only).")
@click.option(
    "--data", default=_default("data"), show_default=True, help="Folder of the node's own files."
)
@click.option(
    "--runtime",
    type=click.Choice(["crun", "runc"]),
    default=_default("runtime"),
    show_default=True,
    help="OCI runtime of containers.",
)
@click.option("--bridge", default=_default("bridge"), show_default=True, help="Containers' bridge.")
@click.option(
    "--bridge-cidr",
    default=_default("bridge_cidr"),
    show_default=True,
    help="The bridge's address on the host and the containers' network.",
)
@READY_FILE
@CONFIG_FILE
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def serve(ctx: click.Context, /, **_: object) -> None:
    """Start a node (stops cleanly on Ctrl-C or SIGTERM).

    Clients connect with 0-core-client, their zero-id token as the password. Every flag may
    also come from $ZOS_NODE_<FLAG> or a --config file.
    """
    flags = {("id" if name == "id_url" else name): v for name, v in given_flags(ctx).items()}
    settings = load(NodeSettings, flags)
    setup_logging(settings.verbose)
    run(settings)
