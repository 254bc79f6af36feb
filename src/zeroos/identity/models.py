"""Names, request bodies, answers and stored records of zero-id (pydantic models).

Request bodies forbid unknown fields and bound every string, so bad input is a 422 with a clear
message, never a 500. Stored records are the JSON values kept in zero-db.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

USERNAME_PATTERN: Final = r"^[a-z0-9]{2,30}$"
# parent.child.grandchild: each part like a username (plus - and _), at most 5 levels
GLOBALID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{1,29}(\.[a-z0-9][a-z0-9_-]{1,29}){0,4}$"
LABEL_PATTERN: Final = r"^[A-Za-z0-9_-][A-Za-z0-9 _-]{0,48}[A-Za-z0-9_-]$"
EMAIL_PATTERN: Final = r"^[^@\s]{1,64}@[^@\s]{1,189}$"
GLOBALID_MAX: Final = 154
USERNAME_RE: Final = re.compile(USERNAME_PATTERN)
GLOBALID_RE: Final = re.compile(GLOBALID_PATTERN)

Username = Annotated[str, Field(pattern=USERNAME_PATTERN, min_length=2, max_length=30)]
GlobalId = Annotated[str, Field(pattern=GLOBALID_PATTERN, min_length=2, max_length=GLOBALID_MAX)]
Label = Annotated[str, Field(pattern=LABEL_PATTERN, min_length=2, max_length=50)]
Password = Annotated[str, Field(min_length=8, max_length=128)]
Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254)]
PublicKey = Annotated[str, Field(min_length=16, max_length=4096)]
Role = Literal["owner", "member"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- requests -------------------------------------------------------------------------------
class NewUser(_Request):
    username: Username
    password: Password
    email: Email | None = None


class PasswordChange(_Request):
    currentpassword: Password
    newpassword: Password


class NewEmail(_Request):
    label: Label
    emailaddress: Email


class NewPublicKey(_Request):
    label: Label
    publickey: PublicKey


class NewOrganization(_Request):
    globalid: GlobalId


class Invite(_Request):
    searchstring: Username  # the invitee's username (ItsYou.Online's field name)


class NewApiKey(_Request):
    label: Label
    role: Role = "owner"  # organisation keys only: the organization:<role> scope they grant


class AdminFlag(_Request):
    admin: bool


# -- stored records -------------------------------------------------------------------------
class UserRecord(BaseModel):
    username: str
    password_hash: str
    admin: bool = False
    emails: dict[str, str] = Field(default_factory=dict)
    publickeys: dict[str, str] = Field(default_factory=dict)
    organizations: dict[str, Role] = Field(default_factory=dict)  # direct roles
    invitations: dict[str, Role] = Field(default_factory=dict)  # pending, by organisation
    apikeys: dict[str, str] = Field(default_factory=dict)  # label -> key id
    created: int = 0


class OrgRecord(BaseModel):
    globalid: str
    owners: list[str] = Field(default_factory=list)
    members: list[str] = Field(default_factory=list)
    invitations: dict[str, Role] = Field(default_factory=dict)  # username -> role offered
    children: list[str] = Field(default_factory=list)
    apikeys: dict[str, str] = Field(default_factory=dict)
    created: int = 0


class ApiKeyRecord(BaseModel):
    keyid: str
    kind: Literal["user", "organization"]
    owner: str
    label: str
    role: Role = "owner"
    secret_hash: str
    created: int = 0


# -- answers --------------------------------------------------------------------------------
class UserInfo(_Answer):
    username: str
    emailaddresses: list[dict[str, str]]
    publicKeys: list[dict[str, str]]


class UserView(UserInfo):
    admin: bool
    organizations: dict[str, Role]
    invitations: dict[str, Role]
    created: int


class OrgView(_Answer):
    globalid: str
    owners: list[str]
    members: list[str]
    children: list[str]
    created: int


class OrgTree(_Answer):
    globalid: str
    children: list[OrgTree]


class Membership(_Answer):
    IsMember: bool


class UserOrganizations(_Answer):
    owner: list[str]
    member: list[str]


class Invitation(_Answer):
    organization: str
    user: str
    role: Role


class ApiKeyView(_Answer):
    label: str
    client_id: str
    role: Role
    created: int


class ApiKeyCreated(ApiKeyView):
    secret: str  # shown once, here


class AccessToken(_Answer):
    access_token: str
    token_type: Literal["bearer"]
    scope: str
    expires_in: int
    info: dict[str, str]


class Rotated(_Answer):
    kid: str
    keys: list[str]


__all__ = [
    "GLOBALID_PATTERN",
    "LABEL_PATTERN",
    "USERNAME_PATTERN",
    "AccessToken",
    "AdminFlag",
    "ApiKeyCreated",
    "ApiKeyRecord",
    "ApiKeyView",
    "Invitation",
    "Invite",
    "Membership",
    "NewApiKey",
    "NewEmail",
    "NewOrganization",
    "NewPublicKey",
    "NewUser",
    "OrgRecord",
    "OrgTree",
    "OrgView",
    "PasswordChange",
    "Role",
    "Rotated",
    "UserInfo",
    "UserOrganizations",
    "UserRecord",
    "UserView",
]
