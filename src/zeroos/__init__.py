"""Zero-OS in Python: a self-hostable grid of small services and the `zos` command line."""

__version__ = "0.1.0"

__all__ = ["__version__"]
