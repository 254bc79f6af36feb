"""zero-id's users: accounts, passwords, attributes, answering invitations, leaving."""

from __future__ import annotations

from typing import Literal

from .access import (
    Principal,
    drop_member,
    keeps_an_owner,
    now,
    user_view,
)
from .errors import Conflict, Forbidden, NotFound
from .models import (
    Invitation,
    Role,
    UserInfo,
    UserOrganizations,
    UserRecord,
    UserView,
)
from .orgs import Organizations


class Accounts(Organizations):
    """zero-id's users: accounts, passwords, attributes, answering invitations, leaving."""

    def register(
        self, caller: Principal | None, username: str, password: str, email: str | None
    ) -> UserView:
        """Anyone while registration is open; otherwise a site admin."""
        if not self.settings.registration:
            self.require_admin(caller)
        user = UserRecord(
            username=username, password_hash=self.hasher.hash(password), created=now()
        )
        if email:
            user.emails["main"] = email
        with self.store.lock:
            if self.store.user(username) is not None:
                raise Conflict(f"username '{username}' is taken")
            self.store.put_user(user)
        return user_view(user)

    def ensure_admin(self, username: str, password: str) -> None:
        """Create (or promote) a site admin: used at start-up, never over HTTP."""
        with self.store.lock:
            user = self.store.user(username)
            if user is None:
                user = UserRecord(
                    username=username, password_hash=self.hasher.hash(password), created=now()
                )
            user.admin = True
            self.store.put_user(user)

    def get_user(self, caller: Principal | None, username: str) -> UserView:
        self.require_self(caller, username, admin=True)
        return user_view(self._user(username))

    def user_info(self, caller: Principal | None, username: str) -> UserInfo:
        self.require_self(caller, username, admin=True)
        view = user_view(self._user(username))
        return UserInfo(
            username=view.username,
            emailaddresses=view.emailaddresses,
            publicKeys=view.publicKeys,
        )

    def change_password(
        self, caller: Principal | None, username: str, current: str, new: str, address: str
    ) -> None:
        self.require_self(caller, username, admin=False)
        with self.throttle.attempt(username, address, Forbidden):
            user = self._user(username)
            if not self.hasher.verify(user.password_hash, current):
                raise Forbidden("current password is wrong")
        with self.store.lock:
            user = self._user(username)
            user.password_hash = self.hasher.hash(new)
            self.store.put_user(user)

    def set_attribute(
        self,
        caller: Principal | None,
        username: str,
        kind: Literal["emails", "publickeys"],
        label: str,
        value: str | None,
    ) -> UserView:
        """Add (value) or remove (None) an e-mail address or public key: the user themself."""
        self.require_self(caller, username, admin=False)
        with self.store.lock:
            user = self._user(username)
            attrs: dict[str, str] = getattr(user, kind)
            if value is None:
                if attrs.pop(label, None) is None:
                    raise NotFound(f"no {kind[:-1]} labelled '{label}'")
            else:
                if label in attrs:
                    raise Conflict(f"label '{label}' is taken")
                attrs[label] = value
            self.store.put_user(user)
        return user_view(user)

    def delete_user(self, caller: Principal | None, username: str) -> None:
        """The user themself or a site admin: the account goes with its API keys, roles and
        invitations; refused while it is the last owner of a root organisation."""
        self.require_self(caller, username, admin=True)
        with self.store.lock:
            user = self._user(username)
            orgs = {g: self.store.org(g) for g in {*user.organizations, *user.invitations}}
            for org in orgs.values():
                if org is not None and username in (*org.owners, *org.members):
                    keeps_an_owner(org, username)
            for org in orgs.values():
                if org is not None:
                    drop_member(org, username)
                    org.invitations.pop(username, None)
                    self.store.put_org(org)
            for keyid in user.apikeys.values():
                self.store.delete_apikey(keyid)
            self.store.delete_user(username)

    def set_admin(self, caller: Principal | None, username: str, admin: bool) -> UserView:
        self.require_admin(caller)
        with self.store.lock:
            user = self._user(username)
            user.admin = admin
            self.store.put_user(user)
        return user_view(user)

    def user_organizations(self, caller: Principal | None, username: str) -> UserOrganizations:
        self.require_self(caller, username, admin=True)
        user = self._user(username)
        roles = user.organizations
        return UserOrganizations(
            owner=sorted(g for g, r in roles.items() if r == "owner"),
            member=sorted(g for g, r in roles.items() if r == "member"),
        )

    def notifications(self, caller: Principal | None, username: str) -> list[Invitation]:
        self.require_self(caller, username, admin=False)
        user = self._user(username)
        return [
            Invitation(organization=g, user=username, role=r) for g, r in user.invitations.items()
        ]

    def answer_invitation(
        self, caller: Principal | None, username: str, globalid: str, role: Role, accept: bool
    ) -> Invitation:
        """Accept or refuse an invitation: only the invitee."""
        self.require_self(caller, username, admin=False)
        with self.store.lock:
            user = self._user(username)
            if user.invitations.get(globalid) != role:
                raise NotFound(f"no invitation to '{globalid}' as {role}")
            org = self.store.org(globalid)
            if accept and org is not None and role == "member":
                keeps_an_owner(org, username)
            del user.invitations[globalid]
            if org is not None:
                org.invitations.pop(username, None)
                if accept:
                    drop_member(org, username)
                    (org.owners if role == "owner" else org.members).append(username)
                    user.organizations[globalid] = role
                self.store.put_org(org)
            self.store.put_user(user)
            if org is None:
                raise NotFound(f"organization '{globalid}' not found")
        return Invitation(organization=globalid, user=username, role=role)

    def leave(self, caller: Principal | None, username: str, globalid: str) -> None:
        """Leave an organisation: the user themself."""
        self.require_self(caller, username, admin=False)
        self.remove_member(None, globalid, username, checked=True)


__all__ = ["Accounts"]
