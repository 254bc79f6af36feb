"""zero-db's client side: :mod:`.sync` (:class:`Client`) and :mod:`.aio` (:class:`AsyncClient`).

Nothing here imports the server side (:mod:`zeroos.zdb.server`). The names below are the
synchronous client's; the asyncio one is imported from :mod:`.aio` (or ``zeroos.zdb``) so
that a synchronous user never loads asyncio's redis driver.
"""

from __future__ import annotations

from . import sync
from .sync import *  # noqa: F403  (the names of sync.__all__, listed once there)

__all__ = sync.__all__
