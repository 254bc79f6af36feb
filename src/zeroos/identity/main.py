"""Run zero-id from its settings: its zero-db, its lease, the service and uvicorn."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from pydantic import SecretStr

from ..common.address import format_hostport
from ..common.errors import ZosError
from ..common.service import listen_tcp
from ..zdb.client import Client
from .errors import IdentityError
from .lease import Lease
from .passwords import HashCost
from .sealed import Sealer, load_key
from .server import EmbeddedZdb, IdentityServer, connect, make_identity
from .service import Settings
from .settings import IdSettings
from .throttle import Limits

log = logging.getLogger("zeroos.identity")


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _zdb_password(settings: IdSettings) -> str | None:
    """The namespace password: the first line of the password file, else the setting."""
    path = settings.zdb_password_file
    if path is None:
        return _secret(settings.zdb_password) or None
    try:
        text = Path(path).read_text()
    except OSError as exc:
        msg = f"cannot read --zdb-password-file {path}: {exc.strerror}"
        raise ZosError(msg) from exc
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise ZosError(f"--zdb-password-file {path} is empty")
    return lines[0]


def _open_zdb(settings: IdSettings) -> tuple[Client, EmbeddedZdb | None]:
    """A client of the zero-db the settings name, or of an embedded one started here."""
    if not settings.zdb:
        embedded = EmbeddedZdb(settings.data).start()
        try:
            return embedded.client(), embedded
        except BaseException:
            embedded.stop()
            raise
    password = _zdb_password(settings)
    if password is None and "@" not in settings.zdb:
        log.warning(
            "event=zdb_namespace_open hint='without a namespace password anyone who "
            "reaches this zero-db reads the records (the key ring stays sealed); "
            "give --zdb-password-file'"
        )
    return connect(settings.zdb, password, _secret(settings.zdb_admin)), None


def run(settings: IdSettings) -> None:
    """Serve until SIGINT or SIGTERM (exit 1 when another zero-id took the namespace)."""
    admin_password = _secret(settings.admin_password)
    if settings.admin and not admin_password:
        raise ZosError("--admin needs a password", hint="set $ZOS_ID_ADMIN_PASSWORD")
    embedded: EmbeddedZdb | None = None
    lease: Lease | None = None
    sock = listen_tcp(settings.listen, settings.port, IdentityError)
    try:
        key_file = Path(settings.key_file or Path(settings.data) / "keyring.key")
        sealer = Sealer(load_key(key_file))
        client, embedded = _open_zdb(settings)
        # one zero-id per namespace (its record cache trusts that): refuse if one is running
        lease = Lease(
            client,
            seconds=settings.lease_seconds,
            renew_every=settings.lease_renew,
            confirm_after=settings.lease_confirm,
        )
        lease.acquire().start()
        where = format_hostport(settings.listen, sock.getsockname()[1])
        service_settings = Settings(
            issuer=settings.issuer or f"http://{where}",
            token_ttl=settings.token_ttl,
            registration=settings.registration,
            limits=Limits(
                settings.max_failures_user, settings.max_failures_address, settings.failure_window
            ),
            hash_cost=HashCost(time_cost=settings.argon2_time, memory_kib=settings.argon2_memory),
        )
        ident = make_identity(client, service_settings, sealer)
        if settings.admin and admin_password:
            ident.ensure_admin(settings.admin, admin_password)
        server = IdentityServer(
            ident,
            sock,
            verbose=settings.verbose,
            lease=lease,
            trusted_proxies=settings.trusted_proxy,
            ready_file=settings.ready_file,
        )
        # a zdb:// address may carry the namespace password: never log it
        zdb = settings.zdb
        zdb_at = re.sub(r"^(zdb://)[^@/]*@", r"\1***@", zdb) if zdb else None
        zdb_at = zdb_at or f"127.0.0.1:{embedded.port if embedded else 0} (embedded)"
        log.info(
            "event=listening addresses=%s issuer=%s zdb=%s", where, service_settings.issuer, zdb_at
        )
        server.run()
        log.info("event=stopped")
        if server.lease_lost:
            raise SystemExit(1)  # the reason is logged already
    finally:
        if lease is not None:
            lease.release()  # deletes it only if it is still ours
        sock.close()
        if embedded is not None:
            embedded.stop()


__all__ = ["run"]
