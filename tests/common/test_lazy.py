"""lazy_exports: a package's names imported from their submodule on first use, then kept."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import zeroos.node as node
before = "zeroos.node.main" in sys.modules
run = node.run
after = "zeroos.node.main" in sys.modules
kept = vars(node).get("run") is run
try:
    node.nothing_here
    missing = ""
except AttributeError as exc:
    missing = str(exc)
print(json.dumps([before, after, kept, run.__module__, missing]))
"""


def test_a_name_loads_its_module_on_first_use_only() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    before, after, kept, module, missing = json.loads(done.stdout)
    assert (before, after, kept, module) == (False, True, True, "zeroos.node.main")
    assert missing == "module 'zeroos.node' has no attribute 'nothing_here'"
