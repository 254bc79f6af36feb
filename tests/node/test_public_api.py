"""`zeroos.node`'s public API: what `__all__` promises; importing it does not load the server."""

from __future__ import annotations

import subprocess
import sys

import zeroos.node

EXPECTED = {"CommandError", "NodeError", "NodeSettings", "UnknownCommand", "run"}


def test_all_is_the_promised_api() -> None:
    assert set(zeroos.node.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(zeroos.node, name) is not None


def test_import_is_light() -> None:
    probe = "import sys, zeroos.node; print('zeroos.node.server' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
