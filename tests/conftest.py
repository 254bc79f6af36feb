"""Settings shared by every part's tests."""

from __future__ import annotations

import os

from hypothesis import settings

# CI must be repeatable: the same examples every run. Locally, new examples keep looking for bugs.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
