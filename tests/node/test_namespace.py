"""zeroos and the PyPI 0-core-client share the top-level name `zeroos`: both import together."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import zeroos._version

SRC = Path(zeroos._version.__file__).parent.parent

PROBE = """
import zeroos.core0.client, zeroos.zdb, zeroos.node
from zeroos._version import __version__
from zeroos.core0.client import Client
print(Client.__module__, zeroos.zdb.__file__, __version__)
"""


@pytest.mark.parametrize("ours_first", [False, True], ids=["as-installed", "our-init-first"])
def test_core0_client_and_zeroos_import_together(ours_first: bool) -> None:
    # as installed, site-packages' zeroos/__init__.py (the client's) may be the one run; with
    # our source folder ahead on sys.path ours is run instead (a non-editable install that
    # put ours last): both ways, every module of both is found
    env = dict(os.environ)
    if ours_first:
        env["PYTHONPATH"] = str(SRC)
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert out[0] == "zeroos.core0.client.client"
    assert out[1].startswith(str(SRC / "zeroos" / "zdb"))
    assert out[2] == zeroos._version.__version__
