"""Who is what in an organisation, sub-organisations included.

- An owner of an organisation owns its sub-organisations too.
- A member (or owner) of a sub-organisation is a member of every organisation above it.

Both answers come from a user's direct roles alone (the ``organizations`` of their record).
"""

from __future__ import annotations

from collections.abc import Mapping

from .models import Role


def ancestors(globalid: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b"]``."""
    parts = globalid.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def parent(globalid: str) -> str | None:
    head, dot, _ = globalid.rpartition(".")
    return head if dot else None


def role_in(direct: Mapping[str, Role], globalid: str) -> Role | None:
    """The role that ``direct`` roles give in ``globalid``: owner, member or None."""
    if direct.get(globalid) == "owner":
        return "owner"
    if any(direct.get(a) == "owner" for a in ancestors(globalid)):
        return "owner"
    if globalid in direct:
        return "member"
    prefix = globalid + "."
    if any(org.startswith(prefix) for org in direct):
        return "member"
    return None


__all__ = ["ancestors", "parent", "role_in"]
