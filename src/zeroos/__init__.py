"""Zero-OS in Python: a self-hostable grid of small services and the `zos` command line."""

# `zeroos` is shared with the PyPI 0-core-client, which installs `zeroos.core0.client` into
# site-packages: extend our path with every other `zeroos` folder on sys.path so that both are
# importable together, whichever of the two `__init__.py` files Python runs.
from pkgutil import extend_path

from ._version import __version__

__path__ = extend_path(__path__, __name__)

__all__ = ["__version__"]
