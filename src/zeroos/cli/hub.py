"""`zos hub`: run zero-hub, and push, list, pull and arrange flists on one."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..common.errors import ZosError
from ..hub.settings import HubSettings
from .identity import config_dir, load_login
from .output import echo_json
from .util import SIZE, listen_options, serve_options, serve_settings, write_private_json

if TYPE_CHECKING:
    from ..hub import HubClient


@click.group()
def hub() -> None:
    """zero-hub: where flists are uploaded, found and served."""


@hub.command()
@listen_options(HubSettings)
@click.option("--data", default="zerohub-data", show_default=True,
              help="Folder of the flists (and of the embedded servers).")  # fmt: skip
@click.option("--stor", metavar="zstor.yaml",
              help="Keep the blocks on zero-stor, as this config file says.")  # fmt: skip
@click.option("--store", metavar="URL",
              help="Block store (zdb://[:password@]host:port/ns, zstor://zstor.yaml, dir:///path); "
                   "default: an embedded zero-db.")  # fmt: skip
@click.option("--id", "id", metavar="URL", help="zero-id's URL; default: an embedded zero-id.")
@click.option("--audience", help="Accept only tokens for this audience (and those without).")
@click.option("--max-upload", type=SIZE, help="Largest upload (default 2G).")
@click.option("--max-expand", type=SIZE, help="Largest unpacked archive (default 16G).")
@click.option("--seed/--no-seed", default=True, show_default=True,
              help="Build zeroos/zero-db.fl from the installed zeroos at start.")  # fmt: skip
@serve_options
@click.pass_context
def serve(ctx: click.Context, /, **_: object) -> None:
    """Start zero-hub (stops cleanly on Ctrl-C or SIGTERM).

    Every flag may also come from $ZOS_HUB_<FLAG> or a --config file.
    """
    from ..hub.main import run

    run(serve_settings(ctx, HubSettings), announce=click.echo)


def _login_file() -> Path:
    return config_dir() / "hub.json"


def _client() -> HubClient:
    """The hub of ``zos hub login``, with its token (and organisation)."""
    from ..hub import HubClient

    try:
        saved = json.loads(_login_file().read_text())
    except (OSError, ValueError):
        saved = {}
    if not isinstance(saved, dict) or not saved.get("url"):
        raise ZosError("no hub: run `zos hub login --url URL` first")
    return HubClient(saved["url"], token=saved.get("token"), active_user=saved.get("as"))


@hub.command()
@click.option("--url", envvar="ZOS_HUB_URL", required=True, help="The hub (or $ZOS_HUB_URL).")
@click.option("--token", envvar="ZOS_HUB_TOKEN",
              help="A zero-id JWT (default: the one `zos id login` keeps).")  # fmt: skip
@click.option("--as", "active_user", metavar="ORG",
              help="Act in ORG's repository (the token needs user:memberof:ORG).")  # fmt: skip
def login(url: str, token: str | None, active_user: str | None) -> None:
    """Remember a hub and the token to use with it (checked with the hub first)."""
    from ..hub import HubClient

    token = token or load_login().get("token")
    if not token:
        raise ZosError("no token: give --token or run `zos id login` first")
    with HubClient(url, token=token, active_user=active_user) as client:
        me = client.me()
    write_private_json(_login_file(), {"url": url, "token": token, "as": active_user})
    click.echo(f"logged in to {url} as {me['username']} (repository {me['repository']})")


@hub.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--flist", "kind", flag_value="flist", help="FILE is an .fl (blocks in the hub).")
@click.option("--image", "kind", flag_value="image", help="FILE is an OCI or docker image.")
def push(file: str, kind: str | None) -> None:
    """Upload a .tar.gz (made into NAME.fl), an .fl, or an image archive."""
    size = Path(file).stat().st_size
    with (
        _client() as client,
        click.progressbar(length=size, label="upload", file=sys.stderr) as bar,
    ):
        send = {"flist": client.upload_flist, "image": client.upload_image}.get(
            kind or "", client.upload
        )
        echo_json(send(file, bar.update))


@hub.command(name="ls")
@click.argument("user", required=False)
@click.option("-q", "--search", help="Only flists whose name holds this.")
def ls_cmd(user: str | None, search: str | None) -> None:
    """Every flist of the hub, or one repository's (name, size, type, target)."""
    with _client() as client:
        if user:
            for entry in client.repository(user):
                target = f" -> {entry['target']}" if entry.get("target") else ""
                click.echo(f"{entry['name']}\t{entry['size']}\t{entry['type']}{target}")
        else:
            for name in client.flists(search):
                click.echo(name)


def _user_name(spec: str) -> tuple[str, str]:
    user, _, name = spec.partition("/")
    if not user or not name:
        raise click.BadParameter(f"{spec!r}: give USER/NAME.fl")
    return user, name


@hub.command()
@click.argument("flist", metavar="USER/NAME.fl")
@click.argument("dest", required=False, type=click.Path(dir_okay=False))
def pull(flist: str, dest: str | None) -> None:
    """Download an flist (to DEST, default NAME.fl here)."""
    user, name = _user_name(flist)
    with _client() as client:
        size = client.download(user, name, dest or name)
    click.echo(f"{dest or name}: {size} bytes")


@hub.command()
@click.argument("name")
def rm(name: str) -> None:
    """Delete one of your flists or links."""
    with _client() as client:
        client.delete(name)
    click.echo(f"deleted {name}")


@hub.command()
@click.argument("source")
@click.argument("linkname")
def link(source: str, linkname: str) -> None:
    """Make LINKNAME a link to your SOURCE."""
    with _client() as client:
        echo_json(client.link(source, linkname))


@hub.command()
@click.argument("target")
@click.argument("sources", nargs=-1, required=True, metavar="USER/NAME.fl...")
def merge(target: str, sources: tuple[str, ...]) -> None:
    """Make TARGET the merge of SOURCES (lowest first)."""
    with _client() as client:
        echo_json(client.merge(target, list(sources)))


@hub.command()
@click.argument("flist", metavar="USER/NAME.fl")
@click.argument("localname")
def promote(flist: str, localname: str) -> None:
    """Copy another repository's flist into yours as LOCALNAME."""
    user, name = _user_name(flist)
    with _client() as client:
        echo_json(client.promote(user, name, localname))
