"""`zos node`: run a zero-os node (0-core's protocol)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..common.log import setup_logging
from ..node.main import run
from ..node.settings import NodeSettings
from .util import SIZE, listen_options, serve_options, serve_settings


@click.group()
def node() -> None:
    """zero-os node: runs processes (later containers and VMs) driven by 0-core-client."""


def _default(name: str) -> Any:
    return NodeSettings.model_fields[name].default


_PORT_HELP = "TCP port, TLS and plain RESP (0 picks a free one: see --ready-file)."


@node.command()
@listen_options(NodeSettings, _PORT_HELP)
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
@click.option(
    "--vm-accel",
    type=click.Choice(["auto", "kvm", "tcg"]),
    default=_default("vm_accel"),
    show_default=True,
    help="How VMs run: KVM, QEMU's TCG, or KVM when a test guest runs on it.",
)
@click.option(
    "--vm-shutdown-timeout",
    type=float,
    default=_default("vm_shutdown_timeout"),
    show_default=True,
    help="Seconds kvm.shutdown waits for the guest to power off before it stops it.",
)
@serve_options
@click.pass_context
def serve(ctx: click.Context, /, **_: object) -> None:
    """Start a node (stops cleanly on Ctrl-C or SIGTERM).

    Clients connect with 0-core-client, their zero-id token as the password. Every flag may
    also come from $ZOS_NODE_<FLAG> or a --config file.
    """
    run(serve_settings(ctx, NodeSettings, rename={"id_url": "id"}))


@node.command("mount-service", hidden=True)
@click.argument("mountpoint", type=click.Path(exists=True, file_okay=False))
@click.option("--cache", "cache_dir", required=True, help="The block cache of the node's flists.")
@click.option("--cache-size", type=SIZE, default="4G", show_default=True, help="Its bound.")
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def mount_service(mountpoint: str, cache_dir: str, cache_size: int, verbose: bool) -> None:
    """Serve the node's flists on one FUSE mount (the node starts it; it outlives the node)."""
    from ..flist.mount.many import serve_many

    setup_logging(verbose)
    serve_many(Path(mountpoint), cache_dir=Path(cache_dir), cache_bytes=cache_size)
