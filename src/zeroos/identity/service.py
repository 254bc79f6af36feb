"""What zero-id does, apart from HTTP: users, organisations, invitations, API keys, grants.

:class:`Identity` is one object for the routes, made of one part per subject: who is calling and
what they may do (:mod:`.access`), users (:mod:`.accounts`), organisations (:mod:`.orgs`), API
keys (:mod:`.apikeys`) and grants (:mod:`.grants`). The rules are written next to each
operation and collected in docs/identity.md.
"""

from __future__ import annotations

from .access import FULL, MEMBEROF, Principal, Settings, audiences, split_list
from .accounts import Accounts
from .grants import Grants
from .rules import ancestors


class Identity(Accounts, Grants):
    """zero-id's operations, each checking its caller first; thread-safe as its store is."""


__all__ = [
    "FULL",
    "MEMBEROF",
    "Identity",
    "Principal",
    "Settings",
    "ancestors",
    "audiences",
    "split_list",
]
