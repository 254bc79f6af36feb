"""zero-id's user routes: accounts, passwords, e-mail addresses, public keys, invitations."""

from fastapi import APIRouter

from ..models import (
    Invitation,
    NewEmail,
    NewPublicKey,
    NewUser,
    PasswordChange,
    Role,
    UserInfo,
    UserOrganizations,
    UserView,
)
from .deps import Address, Caller, Ids, LabelPath, OrgPath, UserPath

router = APIRouter(prefix="/api/users", tags=["users"])


@router.post("", status_code=201)
def register(body: NewUser, who: Caller, ids: Ids) -> UserView:
    """Anyone while registration is open (`--no-registration`: admins only)."""
    return ids.register(who, body.username, body.password, body.email)


@router.get("/{username}")
def get_user(username: UserPath, who: Caller, ids: Ids) -> UserView:
    """The user themself, admins."""
    return ids.get_user(who, username)


@router.delete("/{username}", status_code=204)
def delete_user(username: UserPath, who: Caller, ids: Ids) -> None:
    """The user themself, admins: the account, its API keys, roles and invitations (not
    while it is the last owner of an organisation)."""
    ids.delete_user(who, username)


@router.get("/{username}/info")
def user_info(username: UserPath, who: Caller, ids: Ids) -> UserInfo:
    """The user themself, admins."""
    return ids.user_info(who, username)


@router.put("/{username}/password", status_code=204)
def change_password(
    username: UserPath, body: PasswordChange, who: Caller, ids: Ids, address: Address
) -> None:
    """The user themself (with the current password; failures are throttled)."""
    ids.change_password(who, username, body.currentpassword, body.newpassword, address)


@router.post("/{username}/emailaddresses", status_code=201)
def add_email(username: UserPath, body: NewEmail, who: Caller, ids: Ids) -> UserView:
    """The user themself."""
    return ids.set_attribute(who, username, "emails", body.label, body.emailaddress)


@router.delete("/{username}/emailaddresses/{label}", status_code=204)
def delete_email(username: UserPath, label: LabelPath, who: Caller, ids: Ids) -> None:
    """The user themself."""
    ids.set_attribute(who, username, "emails", label, None)


@router.post("/{username}/publickeys", status_code=201)
def add_publickey(username: UserPath, body: NewPublicKey, who: Caller, ids: Ids) -> UserView:
    """The user themself."""
    return ids.set_attribute(who, username, "publickeys", body.label, body.publickey)


@router.delete("/{username}/publickeys/{label}", status_code=204)
def delete_publickey(username: UserPath, label: LabelPath, who: Caller, ids: Ids) -> None:
    """The user themself."""
    ids.set_attribute(who, username, "publickeys", label, None)


@router.get("/{username}/organizations")
def user_orgs(username: UserPath, who: Caller, ids: Ids) -> UserOrganizations:
    """The user themself, admins: organisations where the user is owner or member."""
    return ids.user_organizations(who, username)


@router.get("/{username}/notifications")
def notifications(username: UserPath, who: Caller, ids: Ids) -> list[Invitation]:
    """The user themself: pending invitations."""
    return ids.notifications(who, username)


@router.post("/{username}/organizations/{globalid}/roles/{role}", status_code=201)
def accept(username: UserPath, globalid: OrgPath, role: Role, who: Caller, ids: Ids) -> Invitation:
    """The invitee: accept an invitation."""
    return ids.answer_invitation(who, username, globalid, role, accept=True)


@router.delete("/{username}/organizations/{globalid}/roles/{role}", status_code=204)
def reject(username: UserPath, globalid: OrgPath, role: Role, who: Caller, ids: Ids) -> None:
    """The invitee: refuse an invitation."""
    ids.answer_invitation(who, username, globalid, role, accept=False)


@router.delete("/{username}/organizations/{globalid}/leave", status_code=204)
def leave(username: UserPath, globalid: OrgPath, who: Caller, ids: Ids) -> None:
    """The user themself: leave an organisation (not as its last owner)."""
    ids.leave(who, username, globalid)
