"""zero-robot's settings: one typed object from flags, ``ZOS_ROBOT_*`` and a config file."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from ..common.settings import PartSettings

DEFAULT_PORT = 6600


class RobotSettings(PartSettings):
    """Where the robot listens, keeps its services, and which templates it loads."""

    model_config = SettingsConfigDict(env_prefix="ZOS_ROBOT_")
    part = "robot"

    listen: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)  # 0: any free port (see the ready file)
    data: str = "zerorobot-data"  # a folder, or zdb://[:password@]host:port/namespace
    work: str = "zerorobot-work"  # template clones when --data is zdb://
    workers: int = Field(32, ge=1, le=1024)  # threads running the services' tasks
    builtin: bool = True  # load the built-in templates (zero_db, zero_db_namespace)
    template_repo: list[str] = Field(default_factory=list)  # git URLs (#ref) or local folders
    task_timeout: float = Field(300.0, gt=0)  # seconds an action may run, unless its template says
    id: str | None = None  # zero-id's URL: callers show its JWTs
    admin_org: str | None = None  # its members may do everything
    user_org: str | None = None  # its members may create services and act on their own
    audience: str | None = None  # accept only tokens for this audience (and those without)
    dev: bool = False  # no authentication: anyone reaching the port may do anything
    webhook_secret: SecretStr | None = None  # signs /webhooks/github (none: webhooks refused)
    ready_file: str | None = None
    verbose: bool = False
