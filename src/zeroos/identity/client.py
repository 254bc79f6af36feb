"""A client of zero-id's REST API (httpx): users, organisations, API keys and tokens.

Every call has a timeout; a refusal raises :class:`RemoteError` with zero-id's one-line reason
and the HTTP status, an unreachable server :class:`Unreachable`.
"""

from __future__ import annotations

from typing import Any, Literal

from ..common.http import HttpApi, JsonClient, bearer_header
from .errors import IdentityError

DEFAULT_URL = "http://127.0.0.1:8080"


class RemoteError(IdentityError):
    """zero-id refused a call: its reason, and the HTTP status it answered with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status


class Unreachable(IdentityError):
    """zero-id could not be reached (refused, timed out, not HTTP)."""


API = HttpApi(
    "zero-id",
    IdentityError,
    unreachable=Unreachable,
    refused=RemoteError,
    reason="error_description",  # OAuth's (RFC 6749) and zero-id's own refusals alike
)


class IdentityClient(JsonClient):
    """zero-id at ``url``; ``token`` (a JWT of its own) is sent as ``Authorization: bearer``.

    :meth:`call` makes one request: the JSON answer, the text of a text answer, None for an
    empty one.
    """

    def __init__(
        self, url: str = DEFAULT_URL, token: str | None = None, *, timeout: float = 10.0
    ) -> None:
        super().__init__(url, API, headers=bearer_header(token), timeout=timeout)
        self.token = token

    # -- tokens ----------------------------------------------------------------------------
    def password_grant(self, username: str, password: str) -> dict[str, Any]:
        """A token for a user's password (``access_token``, ``expires_in``...)."""
        form = {"grant_type": "password", "username": username, "password": password}
        answer: dict[str, Any] = self.call("POST", "/v1/oauth/access_token", data=form)
        return answer

    def client_credentials(self, client_id: str, secret: str) -> dict[str, Any]:
        """A token for an API key (client_id: its user's name or organisation's globalid)."""
        form = {"grant_type": "client_credentials", "client_id": client_id}
        answer: dict[str, Any] = self.call(
            "POST", "/v1/oauth/access_token", data={**form, "client_secret": secret}
        )
        return answer

    def jwt(
        self, scope: str | None = None, aud: str | None = None, validity: int | None = None
    ) -> str:
        """A JWT with these scopes (comma-separated), audiences and validity (seconds)."""
        asked = {"scope": scope, "aud": aud, "validity": validity}
        text: str = self.call("GET", "/v1/oauth/jwt", params={k: v for k, v in asked.items() if v})
        return text

    def introspect(self, token: str) -> dict[str, Any]:
        """What zero-id says of a token (RFC 7662): ``active`` and its claims."""
        answer: dict[str, Any] = self.call("POST", "/v1/oauth/introspect", data={"token": token})
        return answer

    def rotate_keys(self) -> dict[str, Any]:
        """Admins: sign with a new key (the old ones keep verifying live tokens)."""
        answer: dict[str, Any] = self.call("POST", "/api/admin/keys/rotate")
        return answer

    # -- users -----------------------------------------------------------------------------
    def register(self, username: str, password: str, email: str | None = None) -> dict[str, Any]:
        """Create a user."""
        body = {"username": username, "password": password, **({"email": email} if email else {})}
        answer: dict[str, Any] = self.call("POST", "/api/users", json=body)
        return answer

    def user(self, username: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("GET", f"/api/users/{username}")
        return answer

    def delete_user(self, username: str) -> None:
        self.call("DELETE", f"/api/users/{username}")

    def notifications(self, username: str) -> list[dict[str, Any]]:
        """A user's pending invitations."""
        answer: list[dict[str, Any]] = self.call("GET", f"/api/users/{username}/notifications")
        return answer

    def answer_invitation(
        self, username: str, globalid: str, role: str, *, accept: bool = True
    ) -> dict[str, Any] | None:
        """Accept (or refuse) an invitation to ``globalid`` as ``role``."""
        path = f"/api/users/{username}/organizations/{globalid}/roles/{role}"
        answer: dict[str, Any] | None = self.call("POST" if accept else "DELETE", path)
        return answer

    def leave(self, username: str, globalid: str) -> None:
        self.call("DELETE", f"/api/users/{username}/organizations/{globalid}/leave")

    # -- organisations ---------------------------------------------------------------------
    def create_org(self, globalid: str) -> dict[str, Any]:
        """Create an organisation (``parent.child``: a sub-organisation of parent)."""
        parent, dot, _ = globalid.rpartition(".")
        path = f"/api/organizations/{parent}" if dot else "/api/organizations"
        answer: dict[str, Any] = self.call("POST", path, json={"globalid": globalid})
        return answer

    def org(self, globalid: str, *, tree: bool = False) -> dict[str, Any]:
        """An organisation's owners, members and children (or its whole tree)."""
        answer: dict[str, Any] = self.call(
            "GET", f"/api/organizations/{globalid}{'/tree' if tree else ''}"
        )
        return answer

    def delete_org(self, globalid: str) -> None:
        self.call("DELETE", f"/api/organizations/{globalid}")

    def invite(self, globalid: str, username: str, role: Role = "member") -> dict[str, Any]:
        """Invite a user as member or owner (they accept it)."""
        answer: dict[str, Any] = self.call(
            "POST", f"/api/organizations/{globalid}/{role}s", json={"searchstring": username}
        )
        return answer

    def remove(self, globalid: str, username: str, role: Role = "member") -> None:
        """Remove a member or owner."""
        self.call("DELETE", f"/api/organizations/{globalid}/{role}s/{username}")

    def is_member(self, globalid: str, username: str) -> dict[str, Any]:
        """``{"IsMember": bool}``, sub-organisations included."""
        answer: dict[str, Any] = self.call(
            "GET", f"/api/organizations/{globalid}/users/ismember/{username}"
        )
        return answer

    # -- API keys --------------------------------------------------------------------------
    def create_apikey(self, owner: KeyOwner, label: str, role: Role = "owner") -> dict[str, Any]:
        """A new key of a user or organisation; its secret is in this answer only."""
        body = {"label": label, **({"role": role} if owner.kind == "organizations" else {})}
        answer: dict[str, Any] = self.call("POST", owner.path, json=body)
        return answer

    def apikeys(self, owner: KeyOwner) -> list[dict[str, Any]]:
        """The keys' labels (never their secrets)."""
        answer: list[dict[str, Any]] = self.call("GET", owner.path)
        return answer

    def delete_apikey(self, owner: KeyOwner, label: str) -> None:
        self.call("DELETE", f"{owner.path}/{label}")


Role = Literal["member", "owner"]


class KeyOwner:
    """Whose API keys: ``KeyOwner.user(name)`` or ``KeyOwner.org(globalid)``."""

    def __init__(self, kind: Literal["users", "organizations"], name: str) -> None:
        self.kind = kind
        self.path = f"/api/{kind}/{name}/apikeys"

    @classmethod
    def user(cls, username: str) -> KeyOwner:
        return cls("users", username)

    @classmethod
    def org(cls, globalid: str) -> KeyOwner:
        return cls("organizations", globalid)


__all__ = ["DEFAULT_URL", "IdentityClient", "KeyOwner", "RemoteError", "Role", "Unreachable"]
