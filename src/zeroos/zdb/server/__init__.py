"""zero-db's server side: the network (:mod:`.net`), the command set (:mod:`.commands`, one
module per group around one table) and the password-guess throttle (:mod:`.throttle`).

It speaks RESP through :mod:`zeroos.zdb.protocol` and keeps data through an
:class:`~zeroos.zdb.engine.Engine`; the clients (:mod:`zeroos.zdb.client`) import none of it.
"""

from __future__ import annotations

from .commands import Commands
from .net import Connection, ServerConfig, ZdbServer, run, serve

__all__ = ["Commands", "Connection", "ServerConfig", "ZdbServer", "run", "serve"]
