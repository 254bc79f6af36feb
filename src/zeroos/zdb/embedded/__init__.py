"""The embedded zero-db engine: append-only data files with checksums, and index files."""

from .engine import DEFAULT_DATASIZE, EmbeddedEngine
from .store import EmbeddedStore

__all__ = ["DEFAULT_DATASIZE", "EmbeddedEngine", "EmbeddedStore"]
