"""The embedded zero-db engine: append-only data files with checksums, and index files."""

from ..defaults import DEFAULT_DATASIZE
from .engine import EmbeddedEngine
from .store import EmbeddedStore

__all__ = ["DEFAULT_DATASIZE", "EmbeddedEngine", "EmbeddedStore"]
