"""`zeroos.hub`'s public API: what `__all__` promises."""

from __future__ import annotations

import zeroos.hub

EXPECTED = {
    "BadRequest",
    "Conflict",
    "Forbidden",
    "HubClient",
    "HubError",
    "LengthRequired",
    "NotFound",
    "StoreError",
    "TooLarge",
    "Unauthorized",
}


def test_all_is_the_promised_api() -> None:
    assert set(zeroos.hub.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(zeroos.hub, name) is not None
