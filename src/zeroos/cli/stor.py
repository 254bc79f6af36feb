"""`zos stor`: put files on zero-stor, get them back, check and repair them."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..common.errors import ZosError
from .output import err_console, human_size, print_table, progress_bar

if TYPE_CHECKING:  # zeroos.stor (pydantic, codecs) loads only when a stor command runs
    from ..stor import CheckResult, Stor

_err = err_console


@click.group()
@click.option(
    "-c",
    "--config",
    "config_path",
    default="zstor.yaml",
    show_default=True,
    envvar="ZOS_STOR_CONFIG",
    help="The zero-stor YAML configuration (see docs/stor.md); or $ZOS_STOR_CONFIG.",
)
@click.pass_context
def stor(ctx: click.Context, config_path: str) -> None:
    """zero-stor: files spread over zero-db servers, encrypted, checked and repaired."""
    ctx.obj = config_path


def _open(ctx: click.Context) -> Stor:
    from ..stor import Stor, load_config

    stor_client = Stor(load_config(str(ctx.obj)))
    ctx.call_on_close(stor_client.close)
    return stor_client


_progress = progress_bar
_size = human_size


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


@stor.command()
@click.argument("path")
@click.option("--key", "-k", help="Key to store under (default: the file's name).")
@click.option("--meta", "-m", multiple=True, metavar="NAME=VALUE", help="A user field; repeat.")
@click.pass_context
def upload(ctx: click.Context, path: str, key: str | None, meta: tuple[str, ...]) -> None:
    """Store PATH (or - for stdin) on zero-stor."""
    if path == "-" and not key:
        raise click.UsageError("uploading stdin needs --key KEY")
    user: dict[str, str] = {}
    for item in meta:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--meta")
        user[name] = value
    key = key or os.path.basename(path)
    client = _open(ctx)
    if path == "-":
        with _progress(f"upload {key}", None) as advance:
            info = client.put(key, sys.stdin.buffer, user=user, progress=advance)
    else:
        try:
            source = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ZosError(f"cannot read {path}: {exc.strerror or exc}") from None
        with source, _progress(f"upload {key}", os.fstat(source.fileno()).st_size) as advance:
            info = client.put(key, source, user=user, progress=advance)
    click.echo(f"{info.key}\t{info.size}\t{info.file_hash.hex()}")


@stor.command()
@click.argument("key")
@click.option("-o", "--output", help="Where to write (default: ./KEY's name; - for stdout).")
@click.pass_context
def download(ctx: click.Context, key: str, output: str | None) -> None:
    """Fetch the file stored under KEY."""
    client = _open(ctx)
    info = client.metadata(key)
    if output == "-":
        with _progress(f"download {key}", info.size) as advance:
            client.download(key, sys.stdout.buffer, progress=advance)
        sys.stdout.buffer.flush()
        return
    target = Path(output or os.path.basename(key) or "download")
    partial = target.with_name(target.name + ".part")
    try:
        with open(partial, "wb") as out, _progress(f"download {key}", info.size) as advance:
            client.download(key, out, progress=advance)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ZosError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _err.print(f"{key} -> {target} ({_size(info.size)})", highlight=False)


@stor.command()
@click.argument("keys", nargs=-1, required=True)
@click.pass_context
def delete(ctx: click.Context, keys: tuple[str, ...]) -> None:
    """Delete files; blocks that other files share stay."""
    client = _open(ctx)
    for key in keys:
        client.delete(key)


@stor.command()
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def metadata(ctx: click.Context, key: str, as_json: bool) -> None:
    """Show a file's metadata."""
    info = _open(ctx).metadata(key)
    if as_json:
        click.echo(json.dumps(info.as_dict(), indent=2))
        return
    facts = [
        ("key", info.key),
        ("size", f"{info.size} ({_size(info.size)})"),
        ("blocks", str(info.chunks)),
        ("created", _when(info.created_ns)),
        ("modified", _when(info.modified_ns)),
        ("hash", info.file_hash.hex()),
        *((f"user.{name}", value) for name, value in sorted(info.user.items())),
    ]
    print_table(("what", "value"), facts, header=False)


@stor.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List stored files."""
    files = _open(ctx).list()
    if as_json:
        for info in files:
            click.echo(json.dumps(info.as_dict()))
        return
    rows = [(i.key, _size(i.size), str(i.chunks), _when(i.modified_ns)) for i in files]
    print_table(("key", "size", "blocks", "modified (UTC)"), rows)


def _targets(client: Stor, key: str | None, everything: bool) -> list[tuple[str, int]]:
    if everything == (key is not None):
        raise click.UsageError("give a KEY or --all")
    if key is not None:
        return [(key, client.metadata(key).size)]
    return [(info.key, info.size) for info in client.list()]


@stor.command()
@click.argument("key", required=False)
@click.option("--all", "everything", is_flag=True, help="Check every file.")
@click.pass_context
def check(ctx: click.Context, key: str | None, everything: bool) -> None:
    """Verify every shard's hash: optimal, degraded or lost (exit 1 unless all optimal)."""
    client = _open(ctx)
    results: list[CheckResult] = []
    for name, size in _targets(client, key, everything):
        with _progress(f"check {name}", size) as advance:
            result = client.check(name, progress=advance)
        results.append(result)
        click.echo(
            f"{name}\t{result.status}\t{result.objects} blocks, {result.degraded} degraded, "
            f"{result.lost} lost, {result.bad_shards} bad shards"
        )
    if any(r.status != "optimal" for r in results):
        ctx.exit(1)


@stor.command()
@click.argument("key", required=False)
@click.option("--all", "everything", is_flag=True, help="Repair every file.")
@click.pass_context
def repair(ctx: click.Context, key: str | None, everything: bool) -> None:
    """Rebuild missing or corrupt shards onto healthy servers (exit 1 unless all optimal)."""
    client = _open(ctx)
    failed = False
    for name, size in _targets(client, key, everything):
        with _progress(f"repair {name}", size) as advance:
            result = client.repair(name, progress=advance)
        failed |= result.after != "optimal"
        click.echo(f"{name}\t{result.before} -> {result.after}\t{result.shards_rebuilt} shards")
        if result.reason:
            click.echo(f"  not all rebuilt: {result.reason}")
    if failed:
        ctx.exit(1)


@stor.command()
@click.pass_context
def gc(ctx: click.Context) -> None:
    """Free blocks and records that interrupted uploads left behind."""
    freed = _open(ctx).gc()
    click.echo(f"freed {freed} blocks")
