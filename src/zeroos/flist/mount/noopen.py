"""FUSE's no-open mode for pyfuse3: the optional C shim that gives read and readdir the inode.

Without open and opendir requests a warm file costs the process nothing (see _noopen.c for why
this needs C). The shim is built by setup.py when a compiler and libfuse's headers are there;
without it, or when it cannot take effect, mounts answer every open and serve the same bytes.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType


def _load() -> ModuleType | None:
    # RTLD_GLOBAL: pyfuse3, loaded after it, must find our fuse_session_new before libfuse's
    # (Python loads extensions RTLD_NOW: pyfuse3 binds libfuse's names as it is imported)
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_GLOBAL)
    try:
        return importlib.import_module("zeroos.flist.mount._noopen")
    except ImportError:
        return None
    finally:
        sys.setdlopenflags(flags)


# loaded when this module is imported, which zeroos.flist.mount does before it imports pyfuse3
_SHIM = _load()


def available() -> bool:
    """Whether the shim is built and loaded."""
    return _SHIM is not None


def arm() -> bool:
    """Make the next pyfuse3.init's session pass inodes as handles; False without the shim."""
    shim = _SHIM
    if shim is None:
        return False
    shim.arm()
    return True


def engaged() -> bool:
    """Whether the session pyfuse3.init made last passes inodes as handles."""
    return _SHIM is not None and bool(_SHIM.engaged())
