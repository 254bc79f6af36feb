"""Who zero-db is to Tarantool: the user `zos zdb tarantool start` creates, and its password.

Each instance keeps its password in its DIR (``zdb-tarantool.secret``, mode 0600); the members
of a replica set share one (a replica starts with ``--password-file`` naming its leader's), as
they replicate as that user. zero-db finds the password in ``user:password@`` before an address,
in a password file, or in its settings (``ZOS_TARANTOOL_PASSWORD``). Passwords never appear in an
error or a log line: addresses are shown without them.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StorageError

USER = "zdb"
SECRET_FILE = "zdb-tarantool.secret"  # noqa: S105 - a file name
PASSWORD_ENV = "ZOS_TARANTOOL_PASSWORD"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)


def read_secret(path: str | Path) -> str:
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise StorageError(
            f"cannot read the Tarantool password file {path}: {exc.strerror}"
        ) from exc
    if not text:
        raise StorageError(f"the Tarantool password file {path} is empty")
    return text


def write_secret(path: Path, password: str) -> None:
    # created 0600 (not chmod-ed after) so the password is never readable by others
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (password + "\n").encode())
    finally:
        os.close(fd)


def instance_secret(folder: Path, password_file: str | Path | None, replica: bool) -> Path:
    """The instance's password file in ``folder``, made on first start.

    ``password_file``: use this password (a replica's must be its leader's). Without it, the
    instance keeps the one in its folder, or a new random one for a first leader.
    """
    own = folder / SECRET_FILE
    if password_file is not None:
        password = read_secret(password_file)
        if not own.exists() or read_secret(own) != password:
            write_secret(own, password)
    elif not own.exists():
        if replica:
            raise StorageError(
                "a replica replicates as its leader's user: give the leader's password "
                f"(--password-file LEADER_DIR/{SECRET_FILE})"
            )
        write_secret(own, secrets.token_urlsafe(24))
    return own


def split_credentials(addresses: str) -> tuple[str, Credentials | None]:
    """``[user:password@]HOST:PORT,...`` -> (the addresses alone, the credentials if given)."""
    plain: list[str] = []
    found: set[tuple[str, str | None]] = set()
    for item in addresses.split(","):
        userinfo, at, address = item.strip().rpartition("@")
        plain.append(address)
        if at:
            user, colon, password = userinfo.partition(":")
            found.add((user or USER, password if colon else None))
    if len(found) > 1:
        raise StorageError("every Tarantool address must name the same user and password")
    if not found:
        return ",".join(plain), None
    user, given = found.pop()
    # a user without a password: the password comes from the file or the settings
    return ",".join(plain), Credentials(user, given or "")


def resolve(
    addresses: str, password_file: str | Path | None = None, password: str | None = None
) -> tuple[str, Credentials | None]:
    """The addresses without credentials, and who to connect as.

    The password comes from the addresses, else ``password_file``, else ``password`` (the
    settings' ``tarantool_password``, ``ZOS_TARANTOOL_PASSWORD``); with none of them zero-db
    connects as guest (which instances we start refuse).
    """
    plain, given = split_credentials(addresses)
    if given is not None and given.password:
        return plain, given
    user = given.user if given is not None else USER
    if password_file is not None:
        return plain, Credentials(user, read_secret(password_file))
    if password or given is not None:
        return plain, Credentials(user, password or "")
    return plain, None


__all__ = [
    "PASSWORD_ENV",
    "SECRET_FILE",
    "USER",
    "Credentials",
    "instance_secret",
    "read_secret",
    "resolve",
    "split_credentials",
]
