"""`zeroos.robot`'s public API: what `__all__` promises."""

from __future__ import annotations

import zeroos.robot

EXPECTED = {
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "RepositoryError",
    "RobotError",
    "ServiceState",
    "StoreError",
    "TemplateBase",
    "TemplateError",
    "Unauthorized",
}


def test_all_is_the_promised_api() -> None:
    assert set(zeroos.robot.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(zeroos.robot, name) is not None
