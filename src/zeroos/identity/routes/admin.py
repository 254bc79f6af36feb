"""zero-id's admin routes: who is an admin, and rotating the signing key."""

import logging

from fastapi import APIRouter

from ..models import AdminFlag, Rotated, UserView
from .deps import Caller, Ids, UserPath

log = logging.getLogger("zeroos.identity")

router = APIRouter(tags=["admin"])


@router.put("/api/users/{username}/admin")
def set_admin(username: UserPath, body: AdminFlag, who: Caller, ids: Ids) -> UserView:
    """Admins: make a user an admin or not."""
    return ids.set_admin(who, username, body.admin)


@router.post("/api/admin/keys/rotate")
def rotate(who: Caller, ids: Ids) -> Rotated:
    """Admins: sign with a new key; the old ones keep verifying live tokens."""
    ids.require_admin(who)
    key = ids.ring.rotate()
    log.info("event=key_rotated kid=%s", key.kid)
    return Rotated(kid=key.kid, keys=ids.ring.kids())
