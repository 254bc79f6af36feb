"""`zos id`: run zero-id and use it (users, organisations, API keys, tokens)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import click

from ..common.errors import ZosError
from ..identity.client import DEFAULT_URL, IdentityClient, KeyOwner
from ..identity.settings import IdSettings
from .output import echo_json
from .util import listen_options, serve_options, serve_settings, setting_option, write_private_json

log = logging.getLogger("zeroos.identity")
TIMEOUT = 10.0


def config_dir() -> Path:
    """Where the CLI keeps its login: $ZOS_CONFIG_DIR, else ~/.config/zos."""
    env = os.environ.get("ZOS_CONFIG_DIR")
    return Path(env) if env else Path.home() / ".config" / "zos"


def _login_file() -> Path:
    return config_dir() / "id.json"


def load_login() -> dict[str, Any]:
    try:
        data = json.loads(_login_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_login(data: dict[str, Any]) -> None:
    write_private_json(_login_file(), data)


def _client(url: str | None, *, login: bool = True) -> IdentityClient:
    """zero-id at ``url`` (else the one logged in to), with the stored token for it, if any;
    ``login``: the call needs that token."""
    saved = load_login()
    base = (url or saved.get("url") or DEFAULT_URL).rstrip("/")
    token = saved.get("token") if saved.get("url", base) == base else None
    if login and not token:
        raise ZosError("not logged in: run `zos id login` first")
    return IdentityClient(base, token, timeout=TIMEOUT)


def _me(username: str | None = None) -> str:
    name = username or load_login().get("username")
    if not name:
        raise ZosError("no user: give one or run `zos id login`")
    return str(name)


_url = click.option("--url", envvar="ZOS_ID_URL", help="zero-id's address (or $ZOS_ID_URL).")


@click.group("id")
def identity() -> None:
    """zero-id: users, organisations, API keys and JWTs (ItsYou.Online style)."""


@identity.command()
@listen_options(IdSettings)
@setting_option(
    IdSettings, "--data", help="Private folder: embedded zero-db, its secrets, the key file."
)
@click.option("--key-file", type=click.Path(dir_okay=False),
              help="Key sealing the signing keys (default: DATA/keyring.key, 0600).")  # fmt: skip
@click.option("--zdb", metavar="HOST:PORT/NAMESPACE", help="Use this zero-db instead.")
@click.option("--zdb-password-file", type=click.Path(dir_okay=False),
              help="File holding the namespace's password (or $ZOS_ID_ZDB_PASSWORD).")  # fmt: skip
@click.option("--zdb-admin", help="zero-db admin password (or $ZOS_ID_ZDB_ADMIN).")
@click.option("--issuer", metavar="URL", help="The tokens' iss (default: http://LISTEN:PORT).")
@click.option("--admin", metavar="NAME", help="Create/promote this site admin.")
@click.option("--admin-password", help="Its password (or $ZOS_ID_ADMIN_PASSWORD).")
@click.option("--no-registration", is_flag=True, help="Only admins create users.")
@setting_option(IdSettings, "--token-ttl", type=click.IntRange(60))
@setting_option(IdSettings, "--max-failures-user", type=click.IntRange(1))
@setting_option(IdSettings, "--max-failures-address", type=click.IntRange(1))
@setting_option(IdSettings, "--failure-window", type=click.FloatRange(1))
@setting_option(
    IdSettings, "--argon2-memory", type=click.IntRange(8), help="Argon2id memory cost (KiB)."
)
@setting_option(IdSettings, "--argon2-time", type=click.IntRange(1))
@click.option("--trusted-proxy", metavar="ADDR[,ADDR...]", default="",
              help="Believe X-Forwarded-For from these proxies (default: nobody).")  # fmt: skip
@serve_options
@click.pass_context
def serve(ctx: click.Context, /, **_: object) -> None:
    """Start zero-id (stops cleanly on Ctrl-C or SIGTERM).

    Every flag may also come from $ZOS_ID_<FLAG> (ZOS_ID_TOKEN_TTL) or a --config file.
    """
    from ..identity.main import run

    run(serve_settings(ctx, IdSettings, negate={"no_registration": "registration"}))


@identity.command()
@_url
@click.option("-u", "--username", prompt=True)
@click.option("--password", envvar="ZOS_ID_PASSWORD", prompt=True, hide_input=True)
def login(url: str | None, username: str, password: str) -> None:
    """Log in (password grant) and keep the token in ~/.config/zos/id.json."""
    with IdentityClient((url or load_login().get("url") or DEFAULT_URL), timeout=TIMEOUT) as api:
        answer = api.password_grant(username, password)
    _save_login(
        {
            "url": api.url,
            "username": username,
            "token": answer["access_token"],
            "expires": int(time.time()) + int(answer["expires_in"]),
        }
    )
    click.echo(f"logged in to {api.url} as {username}")


@identity.command()
def logout() -> None:
    """Forget the stored token."""
    _login_file().unlink(missing_ok=True)
    click.echo("logged out")


@identity.command()
@_url
def whoami(url: str | None) -> None:
    """Who the stored token speaks for."""
    with _client(url) as api:
        echo_json(api.user(_me()))


@identity.group(invoke_without_command=True)
@_url
@click.option("--scope", help="Comma-separated scopes, e.g. user:memberof:myorg.")
@click.option("--aud", help="Comma-separated audiences.")
@click.option("--validity", type=int, help="Seconds.")
@click.pass_context
def token(
    ctx: click.Context, url: str | None, scope: str | None, aud: str | None, validity: int | None
) -> None:
    """Print a JWT with these scopes and audience (GET /v1/oauth/jwt); or `token inspect`."""
    if ctx.invoked_subcommand is not None:
        return
    with _client(url) as api:
        echo_json(api.jwt(scope, aud, validity))


@token.command("inspect")
@_url
@click.argument("jwt")
def token_inspect(url: str | None, jwt: str) -> None:
    """What zero-id says of a token (RFC 7662 introspection); exit 1 when it is not active."""
    with _client(url) as api:
        answer = api.introspect(jwt)
    echo_json(answer)
    if not isinstance(answer, dict) or not answer.get("active"):
        raise ZosError("the token is not active (expired, forged, or its user or key is gone)")


@identity.group()
def user() -> None:
    """Users."""


@user.command("register")
@_url
@click.argument("username")
@click.option("--password", envvar="ZOS_ID_PASSWORD", prompt=True, hide_input=True,
              confirmation_prompt=True)  # fmt: skip
@click.option("--email")
def user_register(url: str | None, username: str, password: str, email: str | None) -> None:
    """Create a user."""
    with _client(url, login=False) as api:
        echo_json(api.register(username, password, email))


@user.command("show")
@_url
@click.argument("username", required=False)
def user_show(url: str | None, username: str | None) -> None:
    """A user (yourself by default)."""
    with _client(url) as api:
        echo_json(api.user(_me(username)))


@user.command("delete")
@_url
@click.argument("username")
@click.confirmation_option(prompt="Delete this account, its API keys and its roles?")
def user_delete(url: str | None, username: str) -> None:
    """Delete a user (yourself, or anyone as an admin)."""
    with _client(url) as api:
        api.delete_user(username)


@identity.group()
def org() -> None:
    """Organisations (sub-organisations are named parent.child)."""


@org.command("create")
@_url
@click.argument("globalid")
def org_create(url: str | None, globalid: str) -> None:
    """Create an organisation (or a sub-organisation: parent.child)."""
    with _client(url) as api:
        echo_json(api.create_org(globalid))


@org.command("show")
@_url
@click.argument("globalid")
@click.option("--tree", is_flag=True, help="Show the sub-organisation tree.")
def org_show(url: str | None, globalid: str, tree: bool) -> None:
    """Owners, members and sub-organisations."""
    with _client(url) as api:
        echo_json(api.org(globalid, tree=tree))


@org.command("delete")
@_url
@click.argument("globalid")
def org_delete(url: str | None, globalid: str) -> None:
    """Delete an organisation and its sub-organisations."""
    with _client(url) as api:
        api.delete_org(globalid)


@org.command("invite")
@_url
@click.argument("globalid")
@click.argument("username")
@click.option("--owner", is_flag=True, help="Invite as owner (default: member).")
def org_invite(url: str | None, globalid: str, username: str, owner: bool) -> None:
    """Invite a user (they accept with `zos id accept`)."""
    with _client(url) as api:
        echo_json(api.invite(globalid, username, "owner" if owner else "member"))


@org.command("remove")
@_url
@click.argument("globalid")
@click.argument("username")
@click.option("--owner", is_flag=True, help="Remove an owner (default: a member).")
def org_remove(url: str | None, globalid: str, username: str, owner: bool) -> None:
    """Remove a member or owner."""
    with _client(url) as api:
        api.remove(globalid, username, "owner" if owner else "member")


@org.command("ismember")
@_url
@click.argument("globalid")
@click.argument("username")
def org_ismember(url: str | None, globalid: str, username: str) -> None:
    """Whether a user is in an organisation (sub-organisations included)."""
    with _client(url) as api:
        echo_json(api.is_member(globalid, username))


@identity.command()
@_url
def invitations(url: str | None) -> None:
    """Your pending invitations."""
    with _client(url) as api:
        echo_json(api.notifications(_me()))


@identity.command()
@_url
@click.argument("globalid")
@click.argument("role", type=click.Choice(["member", "owner"]), default="member")
@click.option("--reject", is_flag=True, help="Refuse it instead.")
def accept(url: str | None, globalid: str, role: str, reject: bool) -> None:
    """Accept (or --reject) an invitation."""
    with _client(url) as api:
        echo_json(api.answer_invitation(_me(), globalid, role, accept=not reject))


@identity.command()
@_url
@click.argument("globalid")
def leave(url: str | None, globalid: str) -> None:
    """Leave an organisation."""
    with _client(url) as api:
        api.leave(_me(), globalid)


@identity.group()
def apikey() -> None:
    """API keys of your user or of an organisation (--org)."""


def _owner(org_id: str | None) -> KeyOwner:
    return KeyOwner.org(org_id) if org_id else KeyOwner.user(_me())


_org_opt = click.option("--org", "org_id", metavar="GLOBALID", help="An organisation's keys.")


@apikey.command("create")
@_url
@_org_opt
@click.argument("label")
@click.option("--role", type=click.Choice(["owner", "member"]), default="owner")
def apikey_create(url: str | None, org_id: str | None, label: str, role: str) -> None:
    """Create a key; its secret is printed this once."""
    with _client(url) as api:
        echo_json(
            api.create_apikey(_owner(org_id), label, "owner" if role == "owner" else "member")
        )


@apikey.command("list")
@_url
@_org_opt
def apikey_list(url: str | None, org_id: str | None) -> None:
    """Labels of the keys (never their secrets)."""
    with _client(url) as api:
        echo_json(api.apikeys(_owner(org_id)))


@apikey.command("delete")
@_url
@_org_opt
@click.argument("label")
def apikey_delete(url: str | None, org_id: str | None, label: str) -> None:
    """Delete a key."""
    with _client(url) as api:
        api.delete_apikey(_owner(org_id), label)


@identity.group()
def keys() -> None:
    """Signing keys (admins)."""


@keys.command("rotate")
@_url
def keys_rotate(url: str | None) -> None:
    """Sign with a new key; tokens signed by the old ones stay valid until they expire."""
    with _client(url) as api:
        echo_json(api.rotate_keys())
