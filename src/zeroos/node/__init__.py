"""The zero-os node: takes 0-core's commands over its redis protocol and runs them.

Importing this package stays light: the server loads with :func:`run`
(``zeroos.node.run(NodeSettings(dev=True))``). A client is PyPI's ``0-core-client``::

    from zeroos.core0.client import Client

    node = Client("127.0.0.1", port=6379, password=token)
    node.ping()
"""

import typing

from ..common.lazy import lazy_exports
from .errors import CommandError, NodeError, UnknownCommand
from .settings import NodeSettings

if typing.TYPE_CHECKING:
    from .main import run

__getattr__ = lazy_exports(__name__, {"run": ".main"})


__all__ = ["CommandError", "NodeError", "NodeSettings", "UnknownCommand", "run"]
