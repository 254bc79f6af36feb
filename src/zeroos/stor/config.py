"""The zero-stor configuration: YAML in 0-stor's layout, validated by pydantic, with clear errors.

namespace: myfiles
password: secret                  # default password of the shards below
datastor:
  shards:                         # zero-db servers; "host:port" or a mapping
    - {address: 127.0.0.1:9900, namespace: s1, password: secret}
  pipeline:
    block_size: 1048576
    chunking: {type: fixed}       # or {type: cdc, min: 16384, avg: 65536, max: 262144}
    hashing: {type: blake2b_256}
    compression: {type: zstd, level: 3}
    encryption: {type: aes-gcm, private_key: <64 hex chars>}
    distribution: {data_shards: 4, parity_shards: 2}
metastor:
  shards: [{address: 127.0.0.1:9900, namespace: meta, password: secret}]
  encryption: {type: aes-gcm, private_key: <64 hex chars>}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..common.address import parse_address
from .errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_M = TypeVar("_M", bound=_Model)


def _default(model: type[_M]) -> _M:
    """A field defaulting to the model with all its defaults (a fresh instance each time)."""
    return Field(default_factory=lambda: model.model_validate({}))


class ShardConfig(_Model):
    """One zero-db namespace: where it listens, its name and password."""

    address: str
    namespace: str | None = None
    password: str | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        parse_address(value)  # an AddressError is a ValueError: pydantic reports its line
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(f"{value!r} is not a namespace name ([A-Za-z0-9_.-], 1-128 chars)")
        return value

    @property
    def host(self) -> str:
        return parse_address(self.address).host

    @property
    def port(self) -> int:
        return parse_address(self.address).port


def _shards(value: Any) -> Any:
    """Servers as mappings, or as bare ``host:port`` strings (read as their address)."""
    if not isinstance(value, list):
        return value
    return [{"address": v} if isinstance(v, str) else v for v in value]


def _hex_key(value: str | None, kind: str) -> str | None:
    if value is not None and not _HEX_KEY.match(value):
        raise ValueError(f"{kind} private_key must be 64 hex characters (32 bytes)")
    return value


class ChunkingConfig(_Model):
    """Fixed blocks of ``block_size``, or content-defined chunks between min and max."""

    type: Literal["fixed", "cdc"] = "fixed"
    min: int = Field(16 * 1024, ge=64)
    avg: int = Field(64 * 1024, ge=256)
    max: int = Field(256 * 1024, le=8 * 1024 * 1024)

    @model_validator(mode="after")
    def _order(self) -> ChunkingConfig:
        if not self.min < self.avg < self.max:
            raise ValueError(
                f"chunking needs min < avg < max (got {self.min}/{self.avg}/{self.max})"
            )
        if self.avg & (self.avg - 1):
            raise ValueError(f"chunking avg must be a power of two (got {self.avg})")
        return self


class HashingConfig(_Model):
    """blake2b-256 of the plaintext block, keyed with private_key (or one derived from the
    encryption key) so that block ids reveal nothing about the content."""

    type: Literal["blake2b_256"] = "blake2b_256"
    private_key: str | None = None

    @field_validator("private_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return _hex_key(value, "hashing")


class CompressionConfig(_Model):
    type: Literal["zstd", "lz4", "snappy", "none"] = "zstd"
    level: int = Field(3, ge=-7, le=22)


class EncryptionConfig(_Model):
    """aes-gcm (random nonce), convergent (key and nonce derived from the content and the
    private key: equal blocks give equal ciphertext), or none."""

    type: Literal["aes-gcm", "convergent", "none"] = "none"
    private_key: str | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        return {"aes": "aes-gcm", "aes_gcm": "aes-gcm", "aes-256-gcm": "aes-gcm"}.get(value, value)

    @field_validator("private_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return _hex_key(value, "encryption")

    @model_validator(mode="after")
    def _needs_key(self) -> EncryptionConfig:
        if self.type != "none" and self.private_key is None:
            raise ValueError(f"encryption {self.type} needs a private_key (64 hex characters)")
        return self

    @property
    def key(self) -> bytes | None:
        return bytes.fromhex(self.private_key) if self.private_key else None


class DistributionConfig(_Model):
    """0-stor's rule: parity_shards 0 means data_shards full copies (replication); otherwise
    Reed-Solomon with data_shards + parity_shards shards."""

    data_shards: int = Field(1, ge=1, le=64)
    parity_shards: int = Field(0, ge=0, le=64)

    @property
    def replication(self) -> bool:
        return self.parity_shards == 0

    @property
    def total(self) -> int:
        return self.data_shards + self.parity_shards


class PipelineConfig(_Model):
    block_size: int = Field(1024 * 1024, ge=1024, le=8 * 1024 * 1024)
    chunking: ChunkingConfig = _default(ChunkingConfig)
    hashing: HashingConfig = _default(HashingConfig)
    compression: CompressionConfig = _default(CompressionConfig)
    encryption: EncryptionConfig = _default(EncryptionConfig)
    distribution: DistributionConfig = _default(DistributionConfig)


# a list of servers: at least one, each a mapping or a bare "host:port"
Shards = Annotated[list[ShardConfig], BeforeValidator(_shards), Field(min_length=1)]


class DatastorConfig(_Model):
    shards: Shards
    pipeline: PipelineConfig = _default(PipelineConfig)


class MetastorConfig(_Model):
    shards: Shards
    encryption: EncryptionConfig = _default(EncryptionConfig)

    @field_validator("encryption")
    @classmethod
    def _aes_only(cls, value: EncryptionConfig) -> EncryptionConfig:
        if value.type == "convergent":
            raise ValueError("metastor encryption is aes-gcm or none (convergent is for blocks)")
        return value


class StorConfig(_Model):
    """The whole configuration; ``namespace`` and ``password`` are the shards' defaults."""

    namespace: str
    password: str | None = None
    datastor: DatastorConfig
    metastor: MetastorConfig
    timeout: float = Field(10.0, gt=0, le=600)  # seconds, every zero-db call
    workers: int = Field(8, ge=1, le=128)  # threads talking to the servers

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not a namespace name ([A-Za-z0-9_.-], 1-128 chars)")
        return value

    @model_validator(mode="after")
    def _enough_shards(self) -> StorConfig:
        dist = self.datastor.pipeline.distribution
        need = dist.data_shards if dist.replication else dist.total
        have = len(self.datastor.shards)
        if have < need:
            raise ValueError(
                f"distribution needs {need} distinct datastor shards, only {have} configured"
            )
        seen = set()
        for shard in self.datastor.shards:
            ident = (shard.address, shard.namespace or self.namespace)
            if ident in seen:
                raise ValueError(f"datastor shard {ident[0]}/{ident[1]} is listed twice")
            seen.add(ident)
        return self

    def resolve(self, shard: ShardConfig) -> ShardConfig:
        """The shard with the top-level namespace and password filled in."""
        return ShardConfig(
            address=shard.address,
            namespace=shard.namespace or self.namespace,
            password=shard.password if shard.password is not None else self.password,
        )


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting (check its spelling)"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def parse_config(data: Any, source: str = "config") -> StorConfig:
    """Validate an already-parsed mapping; raises ConfigError with one line per problem."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a YAML mapping at the top level")
    try:
        return StorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


def load_config(path: str | Path) -> StorConfig:
    """Read and validate a YAML configuration file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(
            f"cannot read config {path}: {exc.strerror or exc}; pass -c zstor.yaml"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        at = f" at line {line + 1}" if line is not None else ""
        raise ConfigError(f"{path}: not valid YAML{at}") from None
    return parse_config(data, str(path))


__all__ = [
    "ChunkingConfig",
    "CompressionConfig",
    "DatastorConfig",
    "DistributionConfig",
    "EncryptionConfig",
    "HashingConfig",
    "MetastorConfig",
    "PipelineConfig",
    "ShardConfig",
    "StorConfig",
    "load_config",
    "parse_config",
]
