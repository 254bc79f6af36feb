"""zero-db's server settings: one typed object from flags, ``ZOS_ZDB_*`` and a config file.

``zos zdb serve`` turns its flags into a :class:`ZdbSettings` (through
:func:`zeroos.common.settings.load`) and hands it to :func:`zeroos.zdb.run`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from ..common.settings import ByteSize, PartSettings
from .defaults import DEFAULT_DATASIZE, DEFAULT_GRACE
from .namespace import Mode

DEFAULT_PORT = 9900


class ZdbSettings(PartSettings):
    """How a zero-db server listens, where its namespaces live, and how it keeps them."""

    # populate_by_name: flags and the config file give the fields below by their names, the
    # environment by their aliases (the variables users had before the settings existed);
    # loc_by_alias=False: an error names the setting, not one of its variables
    model_config = SettingsConfigDict(
        env_prefix="ZOS_ZDB_", populate_by_name=True, loc_by_alias=False
    )
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
    # the zdb user's password when neither the addresses nor a password file give it
    tarantool_password: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("ZOS_ZDB_TARANTOOL_PASSWORD", "ZOS_TARANTOOL_PASSWORD"),
    )
    tarantool_timeout: float = Field(10.0, ge=0.1)
    ready_file: str | None = None
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    verbose: bool = False
    # run the C module's Python twins (zeroos.zdb.native.configure): to test them
    no_native: bool = Field(
        False, validation_alias=AliasChoices("ZOS_ZDB_NO_NATIVE", "ZOS_NO_NATIVE")
    )

    @model_validator(mode="after")
    def _consistent(self) -> ZdbSettings:
        if self.sync and self.synctime:
            raise ValueError("--sync and --synctime exclude each other: choose one")
        if self.engine == "tarantool" and not self.tarantool:
            raise ValueError("--engine tarantool needs --tarantool HOST:PORT[,...]")
        tarantool_only = (self.tarantool, self.tarantool_password_file)
        if self.engine != "tarantool" and any(tarantool_only):
            raise ValueError("--tarantool options need --engine tarantool")
        return self


__all__ = ["DEFAULT_PORT", "ZdbSettings"]
