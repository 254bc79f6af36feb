"""zero-stor: files cut into blocks, compressed, encrypted and spread over zero-db namespaces by
replication or Reed-Solomon coding, deduplicated, checked and repaired.

    from zeroos.stor import Stor

    with Stor.from_file("zstor.yaml") as stor:
        stor.put("photo.jpg", open("photo.jpg", "rb"))
        data = stor.read("photo.jpg")

See docs/stor.md for the configuration and the layout on zero-db.
"""

from .aio import AsyncStor
from .backend import Backend, EncryptedBackend, MemoryBackend, ZdbBackend
from .client import CheckResult, RepairResult, Stor, StorReader
from .config import StorConfig, load_config, parse_config
from .errors import (
    AccessDenied,
    ConfigError,
    CorruptMetadata,
    DataLost,
    DecryptionError,
    FileNotFound,
    ShardUnavailable,
    StorError,
    StorFull,
)
from .metadata import FileMeta

__all__ = [
    "AccessDenied",
    "AsyncStor",
    "Backend",
    "CheckResult",
    "ConfigError",
    "CorruptMetadata",
    "DataLost",
    "DecryptionError",
    "EncryptedBackend",
    "FileMeta",
    "FileNotFound",
    "MemoryBackend",
    "RepairResult",
    "ShardUnavailable",
    "Stor",
    "StorConfig",
    "StorError",
    "StorFull",
    "StorReader",
    "ZdbBackend",
    "load_config",
    "parse_config",
]
