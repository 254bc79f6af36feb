"""`zeroos.identity`'s public API: what `__all__` promises."""

from __future__ import annotations

import zeroos.identity

EXPECTED = {
    "AsyncVerifier",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "IdentityError",
    "InvalidClient",
    "InvalidToken",
    "MissingScope",
    "NotFound",
    "StorageUnavailable",
    "Throttled",
    "Unauthorized",
    "Verifier",
    "require_scope",
}


def test_all_is_the_promised_api():
    assert set(zeroos.identity.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(zeroos.identity, name) is not None
