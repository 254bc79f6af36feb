"""zero-id's API key routes, for users and for organisations (secrets are shown once)."""

from fastapi import APIRouter

from ..models import ApiKeyCreated, ApiKeyView, NewApiKey
from .deps import Caller, Ids, LabelPath, OrgPath, UserPath

router = APIRouter(tags=["apikeys"])


@router.get("/api/users/{username}/apikeys")
def user_keys(username: UserPath, who: Caller, ids: Ids) -> list[ApiKeyView]:
    """The user themself, admins (secrets are never shown again)."""
    ids.require_self(who, username, admin=True)
    return ids.list_apikeys("user", username)


@router.post("/api/users/{username}/apikeys", status_code=201)
def new_user_key(username: UserPath, body: NewApiKey, who: Caller, ids: Ids) -> ApiKeyCreated:
    """The user themself: the secret is in this answer only."""
    ids.require_self(who, username, admin=False)
    return ids.create_apikey("user", username, body.label, "owner")


@router.get("/api/users/{username}/apikeys/{label}")
def user_key(username: UserPath, label: LabelPath, who: Caller, ids: Ids) -> ApiKeyView:
    """The user themself, admins."""
    ids.require_self(who, username, admin=True)
    return ids.get_apikey("user", username, label)


@router.delete("/api/users/{username}/apikeys/{label}", status_code=204)
def delete_user_key(username: UserPath, label: LabelPath, who: Caller, ids: Ids) -> None:
    """The user themself, admins."""
    ids.require_self(who, username, admin=True)
    ids.delete_apikey("user", username, label)


@router.get("/api/organizations/{globalid}/apikeys")
def org_keys(globalid: OrgPath, who: Caller, ids: Ids) -> list[ApiKeyView]:
    """Owners, admins."""
    ids.require_org(who, globalid, "owner")
    return ids.list_apikeys("organization", globalid)


@router.post("/api/organizations/{globalid}/apikeys", status_code=201)
def new_org_key(globalid: OrgPath, body: NewApiKey, who: Caller, ids: Ids) -> ApiKeyCreated:
    """Owners, admins: the secret is in this answer only."""
    ids.require_org(who, globalid, "owner")
    return ids.create_apikey("organization", globalid, body.label, body.role)


@router.get("/api/organizations/{globalid}/apikeys/{label}")
def org_key(globalid: OrgPath, label: LabelPath, who: Caller, ids: Ids) -> ApiKeyView:
    """Owners, admins."""
    ids.require_org(who, globalid, "owner")
    return ids.get_apikey("organization", globalid, label)


@router.delete("/api/organizations/{globalid}/apikeys/{label}", status_code=204)
def delete_org_key(globalid: OrgPath, label: LabelPath, who: Caller, ids: Ids) -> None:
    """Owners, admins."""
    ids.require_org(who, globalid, "owner")
    ids.delete_apikey("organization", globalid, label)
