"""zero-id's organisations: the tree, owners and members, invitations."""

from __future__ import annotations

from .access import (
    Access,
    Principal,
    drop_member,
    keeps_an_owner,
    now,
    org_view,
)
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .models import (
    GLOBALID_RE,
    Invitation,
    OrgRecord,
    OrgTree,
    OrgView,
    Role,
)
from .rules import parent, role_in


class Organizations(Access):
    """zero-id's organisations: the tree, owners and members, invitations."""

    def create_org(
        self, caller: Principal | None, globalid: str, parent_id: str | None = None
    ) -> OrgView:
        """A root organisation: any user (full token). A sub-organisation: owners of the parent."""
        caller = self._need_caller(caller)
        if not GLOBALID_RE.match(globalid):
            raise BadRequest(f"'{globalid}' is not a valid organization id")
        above = parent(globalid)
        if above != parent_id:
            where = f"POST /api/organizations/{above}" if above else "POST /api/organizations"
            raise BadRequest(f"'{globalid}' must be created with {where}")
        if above is None:
            if not caller.full:
                raise Forbidden("only a user may create an organization")
        else:
            self.require_org(caller, above, "owner")
        with self.store.lock:
            if self.store.org(globalid) is not None:
                raise Conflict(f"organization '{globalid}' exists")
            org = OrgRecord(globalid=globalid, created=now())
            if caller.kind == "user":
                org.owners.append(caller.name)
            if above is not None:
                up = self._org(above)
                up.children.append(globalid)
                self.store.put_org(up)
            self.store.put_org(org)
            if caller.kind == "user":
                user = self._user(caller.name)
                user.organizations[globalid] = "owner"
                self.store.put_user(user)
        return org_view(org)

    def get_org(self, caller: Principal | None, globalid: str) -> OrgView:
        """Members and owners (sub-organisations included), the organisation's keys, admins."""
        return org_view(self.require_org(caller, globalid, "member"))

    def tree(self, caller: Principal | None, globalid: str) -> OrgTree:
        self.require_org(caller, globalid, "member")
        return self._tree(globalid, 0)

    def _tree(self, globalid: str, depth: int) -> OrgTree:
        org = self._org(globalid)
        kids = [self._tree(c, depth + 1) for c in org.children] if depth < 10 else []
        return OrgTree(globalid=globalid, children=kids)

    def delete_org(self, caller: Principal | None, globalid: str) -> None:
        """Owners (of it or above) and admins; its sub-organisations go with it."""
        org = self.require_org(caller, globalid, "owner")
        with self.store.lock:
            for child in list(org.children):
                self.delete_org(None if caller is None else caller, child)
            org = self._org(globalid)
            for name in {*org.owners, *org.members, *org.invitations}:
                user = self.store.user(name)
                if user is not None:
                    user.organizations.pop(globalid, None)
                    user.invitations.pop(globalid, None)
                    self.store.put_user(user)
            for keyid in org.apikeys.values():
                self.store.delete_apikey(keyid)
            above = parent(globalid)
            if above is not None:
                up = self.store.org(above)
                if up is not None and globalid in up.children:
                    up.children.remove(globalid)
                    self.store.put_org(up)
            self.store.delete_org(globalid)

    def invite(
        self, caller: Principal | None, globalid: str, username: str, role: Role
    ) -> Invitation:
        """Owners invite; the invitee accepts (POST .../users/{u}/organizations/{g}/roles/{r})."""
        self.require_org(caller, globalid, "owner")
        with self.store.lock:
            org = self._org(globalid)
            user = self._user(username)
            if user.organizations.get(globalid) == role:
                raise Conflict(f"{username} already is {role} of '{globalid}'")
            if role == "member":
                keeps_an_owner(org, username)
            org.invitations[username] = role
            user.invitations[globalid] = role
            self.store.put_org(org)
            self.store.put_user(user)
        return Invitation(organization=globalid, user=username, role=role)

    def invitations(self, caller: Principal | None, globalid: str) -> list[Invitation]:
        org = self.require_org(caller, globalid, "owner")
        return [
            Invitation(organization=globalid, user=u, role=r) for u, r in org.invitations.items()
        ]

    def cancel_invitation(self, caller: Principal | None, globalid: str, username: str) -> None:
        self.require_org(caller, globalid, "owner")
        with self.store.lock:
            org = self._org(globalid)
            if org.invitations.pop(username, None) is None:
                raise NotFound(f"no pending invitation for {username}")
            self.store.put_org(org)
            user = self.store.user(username)
            if user is not None and user.invitations.pop(globalid, None) is not None:
                self.store.put_user(user)

    def remove_member(
        self,
        caller: Principal | None,
        globalid: str,
        username: str,
        role: Role | None = None,
        *,
        checked: bool = False,
    ) -> None:
        """Owners remove members and owners; the last owner of a root organisation stays."""
        if not checked:
            self.require_org(caller, globalid, "owner")
        with self.store.lock:
            org = self._org(globalid)
            current: Role | None = None
            if username in org.owners:
                current = "owner"
            elif username in org.members:
                current = "member"
            if current is None or (role is not None and current != role):
                raise NotFound(f"{username} is not {role or 'in'} '{globalid}'")
            if current == "owner":
                keeps_an_owner(org, username)
            drop_member(org, username)
            self.store.put_org(org)
            user = self.store.user(username)
            if user is not None and user.organizations.pop(globalid, None) is not None:
                self.store.put_user(user)

    def is_member(self, caller: Principal | None, globalid: str, username: str) -> bool:
        """Members of the organisation, the user asked about, admins."""
        caller = self._need_caller(caller)
        if not (caller.full and caller.name == username):
            self.require_org(caller, globalid, "member")
        else:
            self._org(globalid)
        user = self.store.user(username)
        return user is not None and role_in(user.organizations, globalid) is not None


__all__ = ["Organizations"]
