"""flists: whole file trees as small sqlite files (rfs's format), their content as blocks.

    from zeroos.flist.create import create
    from zeroos.flist.extract import extract

    create("rootfs/", "app.fl", ["dir:///var/blocks"])
    extract("app.fl", "/tmp/out")

See docs/flist.md for the format and the stores.
"""

from .errors import BlockError, FlistError, FlistFormatError, StoreUnavailable
from .format import Flist
from .models import BlockRef, Inode, Route

__all__ = [
    "BlockError",
    "BlockRef",
    "Flist",
    "FlistError",
    "FlistFormatError",
    "Inode",
    "Route",
    "StoreUnavailable",
]
