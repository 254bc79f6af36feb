"""Settings of every part: flags, then ``ZOS_<PART>_*`` variables, then a config file.

A part declares its settings once, as a :class:`PartSettings` subclass with an ``env_prefix``
(``ZOS_ZDB_``); its ``run(settings)`` takes an instance. The command line only turns the flags
the user gave into keyword arguments (:func:`given_flags`) and calls :func:`load`; the
environment is read here, never by a part's library code.

A config file (``--config PATH`` or ``ZOS_<PART>_CONFIG``) is YAML (``.yaml``, ``.yml``) or
TOML (``.toml``): a mapping of the same names as the flags (``data_size`` or ``data-size``).
Every source is validated by one pydantic model, and a bad value from any of them is one
:class:`SettingsError` line naming the setting.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

import click
from pydantic import BeforeValidator, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .errors import ZosError

S = TypeVar("S", bound="PartSettings")

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: object) -> int:
    """A byte count from ``1048576``, ``512K``, ``256M``, ``2G`` (powers of 1024)."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a size (use e.g. 1048576, 512K, 256M, 2G)")
    return int(match.group(1)) * _UNITS[(match.group(2) or "").lower()[:1]]


ByteSize = Annotated[int, BeforeValidator(parse_size)]
"""A setting in bytes that a flag, a variable or the config file may write as ``256M``."""


class SettingsError(ZosError):
    """A setting with a value its part cannot use, or a config file that cannot be read."""

    exit_code = 2  # as a bad flag: the command was not run


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings in a YAML or TOML file (by its suffix), keys with ``-`` read as ``_``."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise SettingsError(f"cannot read config file {file}: {exc.strerror or exc}") from exc
    if file.suffix == ".toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {file} is not valid: {exc}") from exc
    elif file.suffix in (".yaml", ".yml"):
        import yaml  # here: ~50 ms a start that reads no YAML file should not pay

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SettingsError(f"config file {file} is not valid: {exc}") from exc
    else:
        raise SettingsError(f"config file {file}: name it .yaml, .yml or .toml")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"config file {file}: expected a mapping of settings")
    return {str(key).replace("-", "_"): value for key, value in data.items()}


class ConfigFileSource(PydanticBaseSettingsSource):
    """The settings found in the part's config file (none when no file is named)."""

    def __init__(self, settings_cls: type[BaseSettings], path: str | Path | None) -> None:
        super().__init__(settings_cls)
        self.values = read_config_file(path) if path else {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


class PartSettings(BaseSettings):
    """Base of a part's settings; a subclass sets ``part`` and ``env_prefix`` (``ZOS_ZDB_``)."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, case_sensitive=False)
    part: ClassVar[str] = ""

    config: Path | None = None
    """A YAML or TOML file of further settings (flags and variables win over it)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # flags first, then ZOS_<PART>_*, then the config file that either of them names
        flags = init_settings.init_kwargs if isinstance(init_settings, InitSettingsSource) else {}
        env = env_settings() if isinstance(env_settings, EnvSettingsSource) else {}
        path = flags.get("config") or env.get("config")
        return init_settings, env_settings, ConfigFileSource(settings_cls, path)


def load(cls: type[S], flags: Mapping[str, Any] | None = None) -> S:
    """``cls``'s settings from ``flags``, the environment and the config file; one error line."""
    try:
        return cls(**dict(flags or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        prefix = cls.model_config.get("env_prefix", "")
        named = f"setting {where!r} (--{where.replace('_', '-')}, {prefix}{where.upper()})"
        line = f"{cls.part}: {named}: {message}" if where else f"{cls.part}: {message}"
        raise SettingsError(line) from None


def given_flags(ctx: click.Context) -> dict[str, Any]:
    """The parameters of a command the user set (on the command line or by its own envvar).

    Defaults are left out: the settings class holds them, so a variable or the config file
    can still set what a flag did not.
    """
    given = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    return {
        name: value for name, value in ctx.params.items() if ctx.get_parameter_source(name) in given
    }


__all__ = [
    "ByteSize",
    "ConfigFileSource",
    "PartSettings",
    "SettingsError",
    "given_flags",
    "load",
    "parse_size",
    "read_config_file",
]
