"""Run a zero-db server from its settings: the engine, the command set, the network side."""

from __future__ import annotations

import ipaddress
import logging
import os

from . import native
from .engine import Engine
from .errors import ZdbError
from .server.commands import Commands
from .server.net import ServerConfig
from .server.net import run as run_server
from .settings import ZdbSettings

log = logging.getLogger("zeroos.zdb")


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def open_engine(settings: ZdbSettings) -> tuple[Engine, str]:
    """The engine the settings name, and where it keeps its data (for the log)."""
    if settings.engine == "tarantool":
        from .tarantool import TarantoolEngine

        os.makedirs(settings.index, exist_ok=True)  # the server's signing key lives here
        tarantool = TarantoolEngine(
            settings.tarantool or "",
            settings.tarantool_db,
            keydir=os.path.abspath(settings.index),
            chain=settings.chain,
            timeout=settings.tarantool_timeout,
            password_file=settings.tarantool_password_file,
            password=(
                settings.tarantool_password.get_secret_value()
                if settings.tarantool_password is not None
                else None
            ),
        )
        return tarantool, f"tarantool={tarantool.location}"
    from .embedded import EmbeddedEngine

    embedded = EmbeddedEngine(
        settings.data, settings.index, settings.datasize, chain=settings.chain
    )
    return embedded, f"data={embedded.datadir} index={embedded.indexdir}"


def run(settings: ZdbSettings) -> None:
    """Serve until SIGINT or SIGTERM: open the engine, then listen as the settings say."""
    engine, where = open_engine(settings)
    admin = settings.admin.get_secret_value() if settings.admin is not None else None
    try:
        commands = Commands(engine, admin_password=admin, mode=settings.mode, grace=settings.grace)
        default = commands.default
        if settings.maxsize and default.settings.maxsize != settings.maxsize:
            default.settings.maxsize = settings.maxsize
            default.save_settings()
    except ZdbError:
        engine.close()
        raise
    if admin is None and not _loopback(settings.listen):
        log.warning(
            "event=no_admin_password listen=%s hint='every client is admin; set --admin'",
            settings.listen,
        )
    if not native.NATIVE:
        why = (
            "is turned off (no_native: ZOS_NO_NATIVE=1)"
            if native.DISABLED
            else "is not built: install gcc libc6-dev python3-dev libssl-dev and reinstall"
        )
        log.warning("event=native_missing hint='zeroos.zdb._native %s; writes run slower'", why)
    log.info("event=starting %s", where)
    config = ServerConfig(
        listen=settings.listen,
        port=settings.port,
        socket=settings.socket,
        sync=settings.sync,
        synctime=settings.synctime,
        ready_file=settings.ready_file,
    )
    run_server(commands, config, loop=settings.event_loop)


__all__ = ["open_engine", "run"]
