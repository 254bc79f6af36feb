"""zero-id's server settings: one typed object from flags, ``ZOS_ID_*`` and a config file.

``zos id serve`` turns its flags into an :class:`IdSettings` (through
:func:`zeroos.common.settings.load`) and hands it to :func:`zeroos.identity.main.run`.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from ..common.settings import PartSettings
from .lease import LEASE_SECONDS


class IdSettings(PartSettings):
    """Where zero-id listens, where its records live, and how it issues and guards tokens."""

    model_config = SettingsConfigDict(env_prefix="ZOS_ID_")
    part = "id"

    listen: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    data: str = "zeroid-data"  # private folder: embedded zero-db, its secrets, the key file
    key_file: str | None = None  # default: DATA/keyring.key
    zdb: str | None = None  # HOST:PORT/NAMESPACE of a zero-db to use instead of our own
    zdb_password_file: str | None = None
    zdb_password: SecretStr | None = None  # the namespace's, when no file is given
    zdb_admin: SecretStr | None = None
    issuer: str | None = None  # default: http://LISTEN:PORT
    admin: str | None = None  # a site admin to create or promote
    admin_password: SecretStr | None = None
    registration: bool = True
    token_ttl: int = Field(86400, ge=60)
    max_failures_user: int = Field(5, ge=1)
    max_failures_address: int = Field(20, ge=1)
    failure_window: float = Field(300.0, ge=1)
    argon2_memory: int = Field(65536, ge=8)  # KiB
    argon2_time: int = Field(3, ge=1)
    trusted_proxy: str = ""  # ADDR[,ADDR...] whose X-Forwarded-For is believed
    # the namespace's lease (zeroos.identity.lease): its length, renewals, confirmation wait
    lease_seconds: float = Field(LEASE_SECONDS, gt=0)
    lease_renew: float | None = Field(None, gt=0)  # default: a third of lease_seconds
    lease_confirm: float | None = Field(None, ge=0)  # default: 0.5 s, at most a quarter
    ready_file: str | None = None
    verbose: bool = False


__all__ = ["IdSettings"]
