"""zero-hub's settings: one typed object from flags, ``ZOS_HUB_*`` and a config file."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ..common.settings import PartSettings

DEFAULT_PORT = 5555


class HubSettings(PartSettings):
    """Where the hub listens, keeps its flists and blocks, and which zero-id it trusts."""

    model_config = SettingsConfigDict(env_prefix="ZOS_HUB_")
    part = "hub"

    listen: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)  # 0: any free port (see the ready file)
    data: str = "zerohub-data"
    store: str | None = None  # a block store URL; none: an embedded zero-db under data/
    stor: str | None = None  # a zero-stor config (zstor.yaml): the store is zstor://<it>
    id: str | None = None  # zero-id's URL; none: an embedded zero-id under data/
    audience: str | None = None  # accept only tokens for this audience (and those without)
    max_upload: int = Field(2 << 30, gt=0)
    max_expand: int = Field(16 << 30, gt=0)
    timeout: float = Field(30.0, gt=0)
    seed: bool = True  # build zeroos/zero-db.fl (our services) at start when missing or stale
    ready_file: str | None = None
    verbose: bool = False
