"""zero-db's server settings: one typed object from flags, ``ZOS_ZDB_*`` and a config file.

``zos zdb serve`` turns its flags into a :class:`ZdbSettings` (through
:func:`zeroos.common.settings.load`) and hands it to :func:`zeroos.zdb.run`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from ..common.settings import ByteSize, PartSettings
from .embedded.engine import DEFAULT_DATASIZE
from .namespace import Mode
from .server.commands import DEFAULT_GRACE

DEFAULT_PORT = 9900


class ZdbSettings(PartSettings):
    """How a zero-db server listens, where its namespaces live, and how it keeps them."""

    model_config = SettingsConfigDict(env_prefix="ZOS_ZDB_")
    part = "zdb"

    listen: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)  # 0: any free port (see the ready file)
    socket: str | None = None  # also listen on this unix socket
    data: str = "zdb-data"
    index: str = "zdb-index"
    mode: Mode | None = None  # one key mode forced on every namespace
    admin: SecretStr | None = None  # without it every client is admin
    datasize: ByteSize = Field(DEFAULT_DATASIZE, gt=0)
    maxsize: ByteSize = Field(0, ge=0)  # the default namespace's reservation (0: none)
    sync: bool = False
    synctime: float = Field(0.0, ge=0)
    chain: bool = True
    grace: float = Field(DEFAULT_GRACE, ge=0)
    engine: Literal["embedded", "tarantool"] = "embedded"
    tarantool: str | None = None  # HOST:PORT[,...] of the replica set
    tarantool_db: str = ""
    tarantool_password_file: str | None = None
    tarantool_timeout: float = Field(10.0, ge=0.1)
    ready_file: str | None = None
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    verbose: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ZdbSettings:
        if self.sync and self.synctime:
            raise ValueError("--sync and --synctime exclude each other: choose one")
        if self.engine == "tarantool" and not self.tarantool:
            raise ValueError("--engine tarantool needs --tarantool HOST:PORT[,...]")
        if self.engine != "tarantool" and (self.tarantool or self.tarantool_password_file):
            raise ValueError("--tarantool options need --engine tarantool")
        return self


__all__ = ["DEFAULT_PORT", "ZdbSettings"]
