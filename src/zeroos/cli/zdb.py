"""`zos zdb`: run a zero-db server and look after its files."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator

import click

from ..common.address import parse_address
from ..common.log import setup_logging
from ..zdb import native
from ..zdb.errors import NamespaceNotFound, ZdbError, ZdbResponseError
from ..zdb.settings import ZdbSettings
from .util import SIZE, listen_options, serve_options, serve_settings, setting_option

log = logging.getLogger("zeroos.zdb")

_data_option = click.option(
    "--data", "datadir", default="zdb-data", show_default=True, help="Directory of data files."
)
_index_option = click.option(
    "--index", "indexdir", default="zdb-index", show_default=True, help="Directory of index files."
)


@click.group()
def zdb() -> None:
    """zero-db: key/value namespaces over RESP (0-db's command set)."""


# serve's parameters whose names differ from the settings they give
_SETTING_OF = {"socket_path": "socket", "datadir": "data", "indexdir": "index"}


@zdb.command()
@listen_options(ZdbSettings)
@click.option(
    "--socket",
    "socket_path",
    type=click.Path(dir_okay=False),
    help="Also listen on this unix socket.",
)
@_data_option
@_index_option
@click.option(
    "--mode", type=click.Choice(["user", "seq"]), help="Force one key mode for every namespace."
)
@click.option(
    "--admin",
    metavar="PASSWORD",
    help="Admin password (or $ZOS_ZDB_ADMIN). Without it every client is admin.",
)
@setting_option(
    ZdbSettings,
    "--datasize",
    type=SIZE,
    help="Size at which a new data file starts.",
)
@click.option(
    "--maxsize", type=SIZE, default=0, help="Reservation of the default namespace (0: none)."
)
@click.option("--sync", is_flag=True, help="fsync every write before acknowledging it.")
@click.option("--synctime", type=click.FloatRange(min=0), default=0, help="fsync every N seconds.")
@click.option(
    "--no-chain", is_flag=True, help="Keep no Merkle chain (no CHAIN commands; benchmarks)."
)
@setting_option(
    ZdbSettings,
    "--grace",
    type=click.FloatRange(min=0),
    help="Seconds an expired reservation stays read-only before its data is released.",
)
@setting_option(
    ZdbSettings,
    "--engine",
    type=click.Choice(["embedded", "tarantool"]),
    help="Where namespaces live: local files, or a Tarantool replica set.",
)
@click.option(
    "--tarantool",
    metavar="HOST:PORT[,...]",
    help="Members of the Tarantool replica set (--engine tarantool).",
)
@click.option("--tarantool-db", default="", help="Database name inside Tarantool (default: '').")
@click.option(
    "--tarantool-password-file",
    metavar="FILE",
    help="Password of Tarantool's zdb user (the instance's DIR/zdb-tarantool.secret); "
    "or user:password@ before the addresses, or $ZOS_TARANTOOL_PASSWORD.",
)
@setting_option(
    ZdbSettings,
    "--tarantool-timeout",
    type=click.FloatRange(min=0.1),
    help="Seconds any Tarantool call may take before the client gets an error.",
)
@serve_options
@click.pass_context
def serve(ctx: click.Context, /, **_: object) -> None:
    """Start a zero-db server (stops cleanly on Ctrl-C or SIGTERM).

    Every flag may also come from $ZOS_ZDB_<FLAG> (ZOS_ZDB_DATASIZE) or a --config file.
    """
    settings = serve_settings(ctx, ZdbSettings, rename=_SETTING_OF, negate={"no_chain": "chain"})
    # before the engine loads: it picks the C module or its Python twins once (zdb/native.py)
    native.configure(enabled=not settings.no_native)
    from ..zdb.main import run

    run(settings)


@zdb.command()
@_data_option
@_index_option
@click.option("-n", "--namespace", "names", multiple=True, help="Only this namespace (repeatable).")
def compact(datadir: str, indexdir: str, names: tuple[str, ...]) -> None:
    """Reclaim the space of overwritten and deleted values (server must be stopped).

    Current values are kept; their older versions (HISTORY) are dropped.
    """
    # the engine (and rich) load here, not with the module: serve chooses the C module first
    from ..zdb.embedded.engine import list_namespaces

    setup_logging()
    # a wrong path must not become a new, empty zero-db (folders, lock and key made there)
    _need_folders(datadir, indexdir)
    if not names and not list_namespaces(indexdir):
        raise ZdbError(f"no namespaces in {indexdir}: is it a zero-db index folder?")
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..zdb.embedded import EmbeddedEngine
    from ..zdb.embedded.compact import compact_namespace
    from .output import human_size, print_table

    engine = EmbeddedEngine(datadir, indexdir)
    console = Console(stderr=True)
    results = []
    try:
        targets = list(names) or engine.namespaces()
        for name in targets:
            store = engine.open(name)
            if store is None:
                raise ZdbError(f"namespace '{name}' not found in {engine.indexdir}")
            with Progress(
                TextColumn(f"compacting {name}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as progress:
                task = progress.add_task(name, total=store.entries)
                advance = functools.partial(progress.advance, task)
                results.append(compact_namespace(engine, name, advance))
    finally:
        engine.close()
    print_table(
        ("namespace", "entries", "before", "after", "reclaimed"),
        [
            (r.namespace, str(r.entries), human_size(r.bytes_before), human_size(r.bytes_after),
             human_size(r.bytes_before - r.bytes_after))
            for r in results
        ],
    )  # fmt: skip


def _need_folders(datadir: str, indexdir: str) -> None:
    """Refuse folders that are not there (rather than make an empty zero-db in them)."""
    for what, folder in (("data", datadir), ("index", indexdir)):
        if not os.path.isdir(folder):
            raise ZdbError(f"{what} folder {folder} not found")


@zdb.command()
@_index_option
@click.option("--create", is_flag=True, help="Make a new key if the folder has none.")
def key(indexdir: str, create: bool) -> None:
    """Print the server's public key (Ed25519, hex)."""
    from ..zdb.chain.signing import KEY_FILE, Identity

    folder = os.path.abspath(indexdir)
    path = os.path.join(folder, KEY_FILE)
    existed = os.path.exists(path)
    if not existed and not create:
        # a wrong --index must not give a new identity that looks like the server's
        raise ZdbError(f"no server key in {folder} (give --create to make one)")
    public = Identity.load_or_create(folder).public_key.hex()
    if not existed:
        click.echo(f"created a new server key in {path}", err=True)
    click.echo(public)


def _hostport(text: str) -> tuple[str, int]:
    address = parse_address(text)
    return address.host, address.port


def _anchor_heads(
    targets: tuple[str, ...], namespace: str, password: str | None, admin: str | None
) -> list[object]:
    """The heads of ``namespace`` anchored in the targets, read with their own credentials."""
    from ..zdb.chain.anchor import parse_target, read_anchors
    from ..zdb.client import Client

    heads: list[object] = []
    for target in targets:
        host, port, ns = parse_target(target)
        with (
            _naming(ns, f"anchor server {host}:{port}"),
            Client(host, port, namespace=ns, password=password, admin_password=admin) as c,
        ):
            heads.extend(read_anchors(c, namespace))
    return heads


@contextlib.contextmanager
def _naming(namespace: str, where: str) -> Iterator[None]:
    """Say which namespace on which server a server's refusal is about."""
    try:
        yield
    except NamespaceNotFound:
        raise ZdbError(f"namespace '{namespace}' not found on {where}") from None
    except ZdbResponseError as exc:
        raise ZdbError(f"namespace '{namespace}' on {where}: {exc}") from None


def _chain_namespaces(indexdir: str) -> tuple[str, ...]:
    """The namespaces of an index folder that keep a chain (what offline verify checks)."""
    from ..zdb.chain.layout import LEAVES_FILE
    from ..zdb.embedded.engine import list_namespaces

    return tuple(
        n
        for n in list_namespaces(indexdir)
        if os.path.exists(os.path.join(indexdir, n, LEAVES_FILE))
    )


@zdb.command()
@click.option("--data", "datadir", help="Data directory (offline check).")
@click.option("--index", "indexdir", help="Index directory (offline check).")
@click.option("--server", help="HOST:PORT of a running server (online check).")
@click.option("-n", "--namespace", "names", multiple=True, help="Namespace (repeatable).")
@click.option("--pubkey", help="The server key to expect (hex); default: the key it shows.")
@click.option("--anchors", multiple=True, help="HOST:PORT/namespace holding anchored heads.")
@click.option("--admin", envvar="ZOS_ZDB_ADMIN", help="Admin password of the server checked.")
@click.option("--password", help="Password of the namespace (online check).")
@click.option("--anchor-admin", help="Admin password of the anchor servers (default: none).")
@click.option("--anchor-password", help="Password of the anchor namespaces (default: none).")
def verify(
    datadir: str | None,
    indexdir: str | None,
    server: str | None,
    names: tuple[str, ...],
    pubkey: str | None,
    anchors: tuple[str, ...],
    admin: str | None,
    password: str | None,
    anchor_admin: str | None,
    anchor_password: str | None,
) -> None:
    """Check every namespace (or those given) against its chain; name the first divergence."""
    from ..zdb.chain.verify import verify_offline, verify_online

    try:
        expected = bytes.fromhex(pubkey) if pubkey else None
    except ValueError:
        raise ZdbError(f"--pubkey {pubkey!r} is not hex") from None
    reports = []
    if server:
        from ..zdb.client import Client

        host, port = _hostport(server)
        if not names:
            with Client(host, port, admin_password=admin) as client:
                names = tuple(client.nslist())
        for name in names:
            heads = _anchor_heads(anchors, name, anchor_password, anchor_admin)
            with (
                _naming(name, server),
                Client(host, port, namespace=name, password=password, admin_password=admin) as c,
            ):
                reports.append(verify_online(c, expected, heads))  # type: ignore[arg-type]
    elif datadir and indexdir:
        _need_folders(datadir, indexdir)
        names = names or _chain_namespaces(indexdir)
        if not names:
            raise ZdbError(f"no namespace with a chain in {indexdir}")
        for name in names:
            heads = _anchor_heads(anchors, name, anchor_password, anchor_admin)
            reports.append(verify_offline(datadir, indexdir, name, expected, heads))  # type: ignore[arg-type]
    else:
        raise click.UsageError("give --data and --index, or --server")
    for r in reports:
        click.echo(
            f"ok namespace={r.namespace} leaves={r.leaves} entries={r.entries} "
            f"live_keys={r.live_keys} heads={r.heads} anchors={r.anchors}"
        )


@zdb.command()
@click.option("--server", required=True, help="HOST:PORT of the server whose head to anchor.")
@click.option("-n", "--namespace", "names", multiple=True, help="Namespace (repeatable).")
@click.option("--to", "target", required=True, help="HOST:PORT/namespace to keep anchors in.")
@click.option("--admin", envvar="ZOS_ZDB_ADMIN", help="Admin password of the source server.")
@click.option("--password", help="Password of the source namespace.")
@click.option("--to-admin", help="Admin password of the anchor server.")
@click.option("--to-password", help="Password of the anchor namespace.")
def anchor(
    server: str,
    names: tuple[str, ...],
    target: str,
    admin: str | None,
    password: str | None,
    to_admin: str | None,
    to_password: str | None,
) -> None:
    """Copy signed heads into a namespace on another zero-db."""
    from ..zdb.chain.anchor import anchor as do_anchor
    from ..zdb.chain.anchor import parse_target
    from ..zdb.client import Client

    host, port = _hostport(server)
    thost, tport, tns = parse_target(target)
    with Client(thost, tport, namespace=tns, password=to_password, admin_password=to_admin) as to:
        for name in names or ("default",):
            with Client(
                host, port, namespace=name, password=password, admin_password=admin
            ) as source:
                with _naming(name, server):
                    source.ping()  # enters the namespace: a refusal here is the source's
                with _naming(tns, f"anchor server {thost}:{tport}"):
                    head = do_anchor(source, to)
            click.echo(f"anchored namespace={name} size={head.size} root={head.root.hex()}")


@zdb.group()
def tarantool() -> None:
    """Run local Tarantool instances for `zos zdb serve --engine tarantool`."""


@tarantool.command("start")
@click.option("--dir", "folder", required=True, help="Directory of the instance's files.")
@click.option("--port", type=click.IntRange(1, 65535), required=True, help="Port to listen on.")
@click.option("--listen", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--replica-of",
    metavar="HOST:PORT[,...]",
    default="",
    help="Join these members as a read-only replica.",
)
@click.option(
    "--peers",
    metavar="HOST:PORT[,...]",
    default="",
    help="Other members to connect to (the first instance names its future replicas).",
)
@click.option(
    "--quorum", type=click.IntRange(min=1), help="Copies a write needs (default: a majority)."
)
@click.option(
    "--password-file",
    metavar="FILE",
    help="Password of the zdb user (a replica needs its leader's DIR/zdb-tarantool.secret); "
    "default: the one kept in DIR, made at the first start.",
)
def tarantool_start(
    folder: str,
    port: int,
    listen: str,
    replica_of: str,
    peers: str,
    quorum: int | None,
    password_file: str | None,
) -> None:
    """Start a Tarantool instance in the background, configured for zero-db."""
    from ..zdb.tarantool.instance import start

    split = [a.strip() for a in replica_of.split(",") if a.strip()]
    more = [a.strip() for a in peers.split(",") if a.strip()]
    instance = start(
        folder,
        port,
        host=listen,
        replica_of=split,
        peers=more,
        quorum=quorum,
        password_file=password_file,
    )
    instance.proc = None  # it keeps running after we exit
    click.echo(
        f"tarantool listening on {instance.address} (pid {instance.pid}, dir {folder}; "
        f"user zdb, password in {instance.secret})"
    )


@tarantool.command("stop")
@click.option("--dir", "folder", required=True, help="Directory of the instance's files.")
def tarantool_stop(folder: str) -> None:
    """Stop the instance started in DIR."""
    from ..zdb.tarantool.instance import stop

    if not stop(folder):
        raise ZdbError(f"no tarantool instance runs from {folder}")
    click.echo("stopped")


@zdb.command()
@click.option(
    "--from",
    "source",
    required=True,
    help="DIR (with data/ and index/) or tarantool://HOST:PORT[/db].",
)
@click.option("--to", "target", required=True, help="DIR or tarantool://HOST:PORT[,...][/db].")
@click.option("-n", "--namespace", "names", multiple=True, help="Only this namespace (repeatable).")
@click.option("--key-dir", help="Folder of the signing key (default: the embedded side's index).")
@click.option(
    "--tarantool-password-file",
    metavar="FILE",
    help="Password of Tarantool's zdb user (or user:password@ in the URL, or "
    "$ZOS_TARANTOOL_PASSWORD).",
)
# the variable users set for every zos zdb command that reaches Tarantool; no flag, so that
# the password stays out of the process list
@click.option("--tarantool-password", envvar="ZOS_TARANTOOL_PASSWORD", hidden=True)
def migrate(
    source: str,
    target: str,
    names: tuple[str, ...],
    key_dir: str | None,
    tarantool_password_file: str | None,
    tarantool_password: str | None,
) -> None:
    """Copy namespaces (current values and chain) between engines; the server must be stopped."""
    from ..zdb.migrate import Location
    from ..zdb.migrate import migrate as run_migrate
    from .output import print_table

    setup_logging()
    src = Location.parse(source, tarantool_password_file, tarantool_password)
    dst = Location.parse(target, tarantool_password_file, tarantool_password)
    done = run_migrate(src, dst, list(names) or None, key_dir)
    print_table(("namespace", "keys"), [(name, str(count)) for name, count in done])
