"""The `zos` command line: one entry point, a sub-command per part."""

from .main import main, zos

__all__ = ["main", "zos"]
