"""zero-id's organisation routes: the tree, members, owners and invitations."""

from fastapi import APIRouter

from ..models import Invitation, Invite, Membership, NewOrganization, OrgTree, OrgView
from .deps import Caller, Ids, OrgPath, UserPath

router = APIRouter(prefix="/api/organizations", tags=["organizations"])


@router.post("", status_code=201)
def new_org(body: NewOrganization, who: Caller, ids: Ids) -> OrgView:
    """Any user (their own full token): they become its owner."""
    return ids.create_org(who, body.globalid)


@router.post("/{globalid}", status_code=201)
def new_suborg(globalid: OrgPath, body: NewOrganization, who: Caller, ids: Ids) -> OrgView:
    """Owners of `globalid` (or above): create `globalid.child`."""
    return ids.create_org(who, body.globalid, globalid)


@router.get("/{globalid}")
def get_org(globalid: OrgPath, who: Caller, ids: Ids) -> OrgView:
    """Members and owners (sub-organisations included), its own API keys, admins."""
    return ids.get_org(who, globalid)


@router.get("/{globalid}/tree")
def org_tree(globalid: OrgPath, who: Caller, ids: Ids) -> OrgTree:
    """Members and owners, its own API keys, admins."""
    return ids.tree(who, globalid)


@router.delete("/{globalid}", status_code=204)
def delete_org(globalid: OrgPath, who: Caller, ids: Ids) -> None:
    """Owners (of it or above), admins: sub-organisations are deleted with it."""
    ids.delete_org(who, globalid)


@router.post("/{globalid}/members", status_code=201)
def invite_member(globalid: OrgPath, body: Invite, who: Caller, ids: Ids) -> Invitation:
    """Owners, admins: invite a user as member (they accept it)."""
    return ids.invite(who, globalid, body.searchstring, "member")


@router.post("/{globalid}/owners", status_code=201)
def invite_owner(globalid: OrgPath, body: Invite, who: Caller, ids: Ids) -> Invitation:
    """Owners, admins: invite a user as owner (they accept it)."""
    return ids.invite(who, globalid, body.searchstring, "owner")


@router.delete("/{globalid}/members/{username}", status_code=204)
def remove_member(globalid: OrgPath, username: UserPath, who: Caller, ids: Ids) -> None:
    """Owners, admins."""
    ids.remove_member(who, globalid, username, "member")


@router.delete("/{globalid}/owners/{username}", status_code=204)
def remove_owner(globalid: OrgPath, username: UserPath, who: Caller, ids: Ids) -> None:
    """Owners, admins (a root organisation keeps at least one owner)."""
    ids.remove_member(who, globalid, username, "owner")


@router.get("/{globalid}/invitations")
def invitations(globalid: OrgPath, who: Caller, ids: Ids) -> list[Invitation]:
    """Owners, admins: pending invitations."""
    return ids.invitations(who, globalid)


@router.delete("/{globalid}/invitations/{username}", status_code=204)
def cancel_invitation(globalid: OrgPath, username: UserPath, who: Caller, ids: Ids) -> None:
    """Owners, admins."""
    ids.cancel_invitation(who, globalid, username)


@router.get("/{globalid}/users/ismember/{username}")
def is_member(globalid: OrgPath, username: UserPath, who: Caller, ids: Ids) -> Membership:
    """Members and owners, its API keys, the user asked about, admins."""
    return Membership(IsMember=ids.is_member(who, globalid, username))
