"""`zos node`: run a zero-os node (0-core's protocol)."""

from __future__ import annotations

from pathlib import Path

import click

from ..common.log import setup_logging
from ..node.main import run
from ..node.settings import NodeSettings
from .util import SIZE, listen_options, serve_options, serve_settings, setting_option


@click.group()
def node() -> None:
    """zero-os node: runs processes (later containers and VMs) driven by 0-core-client."""


_PORT_HELP = "TCP port, TLS and plain RESP (0 picks a free one: see --ready-file)."


@node.command()
@listen_options(NodeSettings, _PORT_HELP)
@click.option("--org", help="Organisation whose members may drive the node (with --id).")
@click.option("--id", "id_url", metavar="URL", help="zero-id's URL: it signs the clients' tokens.")
@click.option("--dev", is_flag=True, help="No authentication at all (loopback only).")
@setting_option(NodeSettings, "--data", help="Folder of the node's own files.")
@setting_option(
    NodeSettings,
    "--runtime",
    type=click.Choice(["crun", "runc"]),
    help="OCI runtime of containers.",
)
@setting_option(NodeSettings, "--bridge", help="Containers' bridge.")
@setting_option(
    NodeSettings,
    "--bridge-cidr",
    help="The bridge's address on the host and the containers' network.",
)
@setting_option(
    NodeSettings,
    "--vm-accel",
    type=click.Choice(["auto", "kvm", "tcg"]),
    help="How VMs run: KVM, QEMU's TCG, or KVM when a test guest runs on it.",
)
@setting_option(
    NodeSettings,
    "--vm-shutdown-timeout",
    type=float,
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
