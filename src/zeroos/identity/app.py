"""zero-id's HTTP routes (FastAPI). Each route's description says who may call it.

Callers prove who they are with ``Authorization: bearer <JWT>`` (or ItsYou.Online's
``token <JWT>``); the rules themselves live in :mod:`zeroos.identity.service`.
"""

import logging
import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import BadRequest, IdentityError, InvalidToken, TooLarge
from .models import (
    GLOBALID_MAX,
    GLOBALID_PATTERN,
    LABEL_PATTERN,
    USERNAME_PATTERN,
    AccessToken,
    AdminFlag,
    ApiKeyCreated,
    ApiKeyView,
    Invitation,
    Invite,
    Membership,
    NewApiKey,
    NewEmail,
    NewOrganization,
    NewPublicKey,
    NewUser,
    OrgTree,
    OrgView,
    PasswordChange,
    Role,
    Rotated,
    UserInfo,
    UserOrganizations,
    UserView,
)
from .oauth import (
    INTROSPECT_PATH,
    MAX_BODY,
    QUERY_LIMITS,
    TOKEN_PATH,
    TokenEndpoint,
    basic_credentials,
    error_response,
    invalid_response,
    read_form,
)
from .service import Identity, Principal

log = logging.getLogger("zeroos.identity")

UserPath = Annotated[str, Path(pattern=USERNAME_PATTERN, max_length=30)]
OrgPath = Annotated[str, Path(pattern=GLOBALID_PATTERN, max_length=GLOBALID_MAX)]
LabelPath = Annotated[str, Path(pattern=LABEL_PATTERN, max_length=50)]
_auth_header = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    description="`bearer <JWT>` (or `token <JWT>`) from /v1/oauth/access_token",
)


class _Limited:
    """One request's receive and send, counting the body as it arrives.

    Past MAX_BODY (whatever the framing: a Content-Length that lies, or chunks without one) it
    answers 413 itself at once, with ``Connection: close`` so that the server reads no more,
    tells the app the client left, and drops what the app sends after.
    """

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.size = 0
        self.status = 0  # of the answer sent, for the request log
        self.answered = False

    async def receive(self) -> Message:
        if self.answered:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.size += len(message.get("body", b""))
            if self.size > MAX_BODY:
                if not self.status:
                    await _too_large(self.scope, self._send)
                    self.status = TooLarge.status
                self.answered = True
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


async def _too_large(scope: Scope, send: Send) -> None:
    response = error_response(TooLarge(f"request body over {MAX_BODY} bytes"))
    response.headers["Connection"] = "close"

    async def nothing() -> Message:  # a JSONResponse reads nothing
        return {"type": "http.disconnect"}

    await response(scope, nothing, send)


class _Guard:
    """Refuse oversized bodies (413, see :class:`_Limited`); log each request's path and time;
    hand ``POST /v1/oauth/access_token`` to ``token`` (see :mod:`zeroos.identity.oauth`).

    A plain ASGI app around FastAPI's: Starlette's @app.middleware("http") wraps every request
    in an extra task and memory streams, which doubled the cost of small requests, and FastAPI's
    own middleware stack (error, telemetry and body-limit layers) is not needed for the token
    endpoint, which answers its errors itself.
    """

    def __init__(self, app: ASGIApp, token: ASGIApp) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > MAX_BODY:
                    await _too_large(scope, send)
                    return
                break
        app = self.app
        if scope["path"] == TOKEN_PATH and scope["method"] == "POST":
            app = self.token
        limited = _Limited(scope, receive, send)
        start = time.perf_counter()
        try:
            await app(scope, limited.receive, limited.send)
        except Exception:
            if not limited.answered:
                raise
            # the app saw the client leave when the body passed the limit: answered already
        if log.isEnabledFor(logging.DEBUG):
            # the path only: query strings may hold secrets
            log.debug(
                "event=request method=%s path=%s status=%d ms=%.1f",
                scope["method"],
                scope["path"],
                limited.status,
                (time.perf_counter() - start) * 1000,
            )


def create_app(identity: Identity) -> ASGIApp:
    """zero-id's ASGI app: FastAPI's routes behind :class:`_Guard`."""
    token = TokenEndpoint(identity)
    return _Guard(create_api(identity, token), token)


def create_api(identity: Identity, token: TokenEndpoint) -> FastAPI:
    """The FastAPI app with every route (the token endpoint's for its OpenAPI description)."""
    app = FastAPI(
        title="zero-id",
        version="1",
        description="Users, organisations, API keys and ES384 JWTs for the Zero-OS grid "
        "(ItsYou.Online's routes). See docs/identity.md.",
    )
    app.state.identity = identity

    @app.exception_handler(IdentityError)
    async def _identity_error(request: Request, exc: IdentityError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # never echo the input back: it may hold a password
        problems = []
        for err in exc.errors()[:10]:
            where = ".".join(str(p) for p in err.get("loc", ()))
            problems.append({"loc": where, "msg": str(err.get("msg", "invalid"))})
        return invalid_response(problems)

    def caller(
        authorization: Annotated[str | None, Depends(_auth_header)] = None,
    ) -> Principal | None:
        if authorization is None:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token.strip():
            raise InvalidToken("Authorization must be 'bearer <token>'")
        return identity.authenticate(token.strip())

    Caller = Annotated[Principal | None, Depends(caller)]
    ids = identity

    # -- discovery ------------------------------------------------------------------------
    @app.get("/.well-known/jwks.json", tags=["keys"])
    def jwks() -> dict[str, Any]:
        """Anyone: the public keys that sign tokens (current and still-valid retired ones)."""
        return ids.ring.jwks()

    @app.get("/.well-known/openid-configuration", tags=["keys"])
    def discovery() -> dict[str, Any]:
        """Anyone: where the token endpoint and the keys are (OpenID-style)."""
        base = ids.settings.issuer.rstrip("/")
        return {
            "issuer": ids.settings.issuer,
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "token_endpoint": f"{base}/v1/oauth/access_token",
            "introspection_endpoint": f"{base}{INTROSPECT_PATH}",
            "grant_types_supported": ["client_credentials", "password"],
            "id_token_signing_alg_values_supported": ["ES384"],
            "scopes_supported": [
                "user:admin",
                "user:name",
                "user:memberof:<globalid>",
                "organization:owner",
                "organization:member",
            ],
        }

    @app.get("/metrics", response_class=PlainTextResponse, tags=["service"])
    def metrics() -> str:
        """Anyone: Prometheus counters."""
        lines = []
        for name, value in ids.metrics().items():
            lines += [f"# TYPE zeroid_{name}_total counter", f"zeroid_{name}_total {value}"]
        return "\n".join(lines) + "\n"

    # -- OAuth ----------------------------------------------------------------------------
    @app.post(
        TOKEN_PATH,
        tags=["oauth"],
        response_model=AccessToken,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            401: {},
            422: {},
            429: {},
        },
        openapi_extra={
            "requestBody": {
                "required": False,
                "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
            }
        },
    )
    async def access_token(
        request: Request,
        grant_type: Annotated[str | None, Query(max_length=QUERY_LIMITS["grant_type"])] = None,
        client_id: Annotated[str | None, Query(max_length=QUERY_LIMITS["client_id"])] = None,
        client_secret: Annotated[
            str | None, Query(max_length=QUERY_LIMITS["client_secret"])
        ] = None,
        username: Annotated[str | None, Query(max_length=QUERY_LIMITS["username"])] = None,
        password: Annotated[str | None, Query(max_length=QUERY_LIMITS["password"])] = None,
        scope: Annotated[str | None, Query(max_length=QUERY_LIMITS["scope"])] = None,
        response_type: Annotated[
            str | None, Query(max_length=QUERY_LIMITS["response_type"])
        ] = None,
        aud: Annotated[str | None, Query(max_length=QUERY_LIMITS["aud"])] = None,
    ) -> Response:
        """Anyone. `grant_type=client_credentials` (client_id = username or globalid,
        client_secret = an API key's secret) or `grant_type=password` (username, password).
        Parameters come as a form body or in the query string. With `response_type=id_token`
        and a `scope` (and optionally `aud`), the answer is the JWT alone, as text."""
        # served by _Guard's hand-off to TokenEndpoint; this declaration describes the route
        # in the OpenAPI document (and answers the same if it is ever reached)
        answer, id_token = await token.grant(request.scope, request.receive)
        if id_token:
            return PlainTextResponse(answer.access_token)
        return JSONResponse(answer.model_dump())

    @app.post(
        INTROSPECT_PATH,
        tags=["oauth"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "properties": {"token": {"type": "string"}},
                            "required": ["token"],
                        }
                    }
                },
            }
        },
    )
    async def introspect(request: Request) -> dict[str, Any]:
        """A caller with a bearer token of ours, or an API key as `Authorization: Basic`
        (client_id:secret): RFC 7662 token introspection of the form field `token`. The answer
        is `{"active": false}` for a token zero-id would refuse now (expired, forged, of a
        deleted user...), else its scope (space-separated), client_id, sub, exp, iat..."""
        basic = basic_credentials(request.scope)
        if basic is not None:
            address = request.client.host if request.client else "?"
            await ids.check_client(*basic, address)
        else:
            header = request.headers.get("authorization")
            if header is None:
                raise InvalidToken("introspection needs Authorization: bearer <JWT> or Basic")
            await run_in_threadpool(caller, header)
        token = (await read_form(request.receive)).get("token")
        if not token:
            raise BadRequest("the form field token is missing")
        return await run_in_threadpool(ids.introspect, token)

    jwt_doc = (
        "A caller with a bearer token of ours (no audience): a JWT with the asked `scope` "
        "(comma-separated; only what is true now), `aud` and `validity` (seconds)."
    )

    def _jwt(
        who: Caller,
        scope: Annotated[str | None, Query(max_length=2000)] = None,
        aud: Annotated[str | None, Query(max_length=2000)] = None,
        validity: Annotated[int | None, Query(ge=1, le=ids.settings.max_validity)] = None,
    ) -> PlainTextResponse:
        return PlainTextResponse(ids.jwt(who, scope, aud, validity))

    app.get("/v1/oauth/jwt", tags=["oauth"], description=jwt_doc, response_class=PlainTextResponse)(
        _jwt
    )
    app.post(
        "/v1/oauth/jwt", tags=["oauth"], description=jwt_doc, response_class=PlainTextResponse
    )(_jwt)

    refresh_doc = (
        "The holder of an unexpired JWT of ours: the same JWT renewed (scopes re-checked). "
        "Works for JWTs with an audience too."
    )

    def _refresh(request: Request) -> PlainTextResponse:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token.strip():
            raise InvalidToken("this needs Authorization: bearer <JWT>")
        who = ids.authenticate(token.strip(), any_audience=True)
        return PlainTextResponse(ids.refresh(who))

    for method in (app.get, app.post):
        method(
            "/v1/oauth/jwt/refresh",
            tags=["oauth"],
            description=refresh_doc,
            response_class=PlainTextResponse,
            dependencies=[Depends(_auth_header)],
        )(_refresh)

    # -- users ----------------------------------------------------------------------------
    @app.post("/api/users", status_code=201, tags=["users"])
    def register(body: NewUser, who: Caller) -> UserView:
        """Anyone while registration is open (`--no-registration`: admins only)."""
        return ids.register(who, body.username, body.password, body.email)

    @app.get("/api/users/{username}", tags=["users"])
    def get_user(username: UserPath, who: Caller) -> UserView:
        """The user themself, admins."""
        return ids.get_user(who, username)

    @app.delete("/api/users/{username}", status_code=204, tags=["users"])
    def delete_user(username: UserPath, who: Caller) -> None:
        """The user themself, admins: the account, its API keys, roles and invitations (not
        while it is the last owner of an organisation)."""
        ids.delete_user(who, username)

    @app.get("/api/users/{username}/info", tags=["users"])
    def user_info(username: UserPath, who: Caller) -> UserInfo:
        """The user themself, admins."""
        return ids.user_info(who, username)

    @app.put("/api/users/{username}/password", status_code=204, tags=["users"])
    def change_password(
        username: UserPath, body: PasswordChange, who: Caller, request: Request
    ) -> None:
        """The user themself (with the current password; failures are throttled)."""
        address = request.client.host if request.client else "?"
        ids.change_password(who, username, body.currentpassword, body.newpassword, address)

    @app.post("/api/users/{username}/emailaddresses", status_code=201, tags=["users"])
    def add_email(username: UserPath, body: NewEmail, who: Caller) -> UserView:
        """The user themself."""
        return ids.set_attribute(who, username, "emails", body.label, body.emailaddress)

    @app.delete("/api/users/{username}/emailaddresses/{label}", status_code=204, tags=["users"])
    def delete_email(username: UserPath, label: LabelPath, who: Caller) -> None:
        """The user themself."""
        ids.set_attribute(who, username, "emails", label, None)

    @app.post("/api/users/{username}/publickeys", status_code=201, tags=["users"])
    def add_publickey(username: UserPath, body: NewPublicKey, who: Caller) -> UserView:
        """The user themself."""
        return ids.set_attribute(who, username, "publickeys", body.label, body.publickey)

    @app.delete("/api/users/{username}/publickeys/{label}", status_code=204, tags=["users"])
    def delete_publickey(username: UserPath, label: LabelPath, who: Caller) -> None:
        """The user themself."""
        ids.set_attribute(who, username, "publickeys", label, None)

    @app.put("/api/users/{username}/admin", tags=["admin"])
    def set_admin(username: UserPath, body: AdminFlag, who: Caller) -> UserView:
        """Admins: make a user an admin or not."""
        return ids.set_admin(who, username, body.admin)

    @app.get("/api/users/{username}/organizations", tags=["users"])
    def user_orgs(username: UserPath, who: Caller) -> UserOrganizations:
        """The user themself, admins: organisations where the user is owner or member."""
        return ids.user_organizations(who, username)

    @app.get("/api/users/{username}/notifications", tags=["users"])
    def notifications(username: UserPath, who: Caller) -> list[Invitation]:
        """The user themself: pending invitations."""
        return ids.notifications(who, username)

    @app.post(
        "/api/users/{username}/organizations/{globalid}/roles/{role}",
        status_code=201,
        tags=["users"],
    )
    def accept(username: UserPath, globalid: OrgPath, role: Role, who: Caller) -> Invitation:
        """The invitee: accept an invitation."""
        return ids.answer_invitation(who, username, globalid, role, accept=True)

    @app.delete(
        "/api/users/{username}/organizations/{globalid}/roles/{role}",
        status_code=204,
        tags=["users"],
    )
    def reject(username: UserPath, globalid: OrgPath, role: Role, who: Caller) -> None:
        """The invitee: refuse an invitation."""
        ids.answer_invitation(who, username, globalid, role, accept=False)

    @app.delete(
        "/api/users/{username}/organizations/{globalid}/leave", status_code=204, tags=["users"]
    )
    def leave(username: UserPath, globalid: OrgPath, who: Caller) -> None:
        """The user themself: leave an organisation (not as its last owner)."""
        ids.leave(who, username, globalid)

    @app.get("/api/users/{username}/apikeys", tags=["apikeys"])
    def user_keys(username: UserPath, who: Caller) -> list[ApiKeyView]:
        """The user themself, admins (secrets are never shown again)."""
        ids.require_self(who, username, admin=True)
        return ids.list_apikeys("user", username)

    @app.post("/api/users/{username}/apikeys", status_code=201, tags=["apikeys"])
    def new_user_key(username: UserPath, body: NewApiKey, who: Caller) -> ApiKeyCreated:
        """The user themself: the secret is in this answer only."""
        ids.require_self(who, username, admin=False)
        return ids.create_apikey("user", username, body.label, "owner")

    @app.get("/api/users/{username}/apikeys/{label}", tags=["apikeys"])
    def user_key(username: UserPath, label: LabelPath, who: Caller) -> ApiKeyView:
        """The user themself, admins."""
        ids.require_self(who, username, admin=True)
        return ids.get_apikey("user", username, label)

    @app.delete("/api/users/{username}/apikeys/{label}", status_code=204, tags=["apikeys"])
    def delete_user_key(username: UserPath, label: LabelPath, who: Caller) -> None:
        """The user themself, admins."""
        ids.require_self(who, username, admin=True)
        ids.delete_apikey("user", username, label)

    # -- organisations --------------------------------------------------------------------
    @app.post("/api/organizations", status_code=201, tags=["organizations"])
    def new_org(body: NewOrganization, who: Caller) -> OrgView:
        """Any user (their own full token): they become its owner."""
        return ids.create_org(who, body.globalid)

    @app.post("/api/organizations/{globalid}", status_code=201, tags=["organizations"])
    def new_suborg(globalid: OrgPath, body: NewOrganization, who: Caller) -> OrgView:
        """Owners of `globalid` (or above): create `globalid.child`."""
        return ids.create_org(who, body.globalid, globalid)

    @app.get("/api/organizations/{globalid}", tags=["organizations"])
    def get_org(globalid: OrgPath, who: Caller) -> OrgView:
        """Members and owners (sub-organisations included), its own API keys, admins."""
        return ids.get_org(who, globalid)

    @app.get("/api/organizations/{globalid}/tree", tags=["organizations"])
    def org_tree(globalid: OrgPath, who: Caller) -> OrgTree:
        """Members and owners, its own API keys, admins."""
        return ids.tree(who, globalid)

    @app.delete("/api/organizations/{globalid}", status_code=204, tags=["organizations"])
    def delete_org(globalid: OrgPath, who: Caller) -> None:
        """Owners (of it or above), admins: sub-organisations are deleted with it."""
        ids.delete_org(who, globalid)

    @app.post("/api/organizations/{globalid}/members", status_code=201, tags=["organizations"])
    def invite_member(globalid: OrgPath, body: Invite, who: Caller) -> Invitation:
        """Owners, admins: invite a user as member (they accept it)."""
        return ids.invite(who, globalid, body.searchstring, "member")

    @app.post("/api/organizations/{globalid}/owners", status_code=201, tags=["organizations"])
    def invite_owner(globalid: OrgPath, body: Invite, who: Caller) -> Invitation:
        """Owners, admins: invite a user as owner (they accept it)."""
        return ids.invite(who, globalid, body.searchstring, "owner")

    @app.delete(
        "/api/organizations/{globalid}/members/{username}", status_code=204, tags=["organizations"]
    )
    def remove_member(globalid: OrgPath, username: UserPath, who: Caller) -> None:
        """Owners, admins."""
        ids.remove_member(who, globalid, username, "member")

    @app.delete(
        "/api/organizations/{globalid}/owners/{username}", status_code=204, tags=["organizations"]
    )
    def remove_owner(globalid: OrgPath, username: UserPath, who: Caller) -> None:
        """Owners, admins (a root organisation keeps at least one owner)."""
        ids.remove_member(who, globalid, username, "owner")

    @app.get("/api/organizations/{globalid}/invitations", tags=["organizations"])
    def invitations(globalid: OrgPath, who: Caller) -> list[Invitation]:
        """Owners, admins: pending invitations."""
        return ids.invitations(who, globalid)

    @app.delete(
        "/api/organizations/{globalid}/invitations/{username}",
        status_code=204,
        tags=["organizations"],
    )
    def cancel_invitation(globalid: OrgPath, username: UserPath, who: Caller) -> None:
        """Owners, admins."""
        ids.cancel_invitation(who, globalid, username)

    @app.get("/api/organizations/{globalid}/users/ismember/{username}", tags=["organizations"])
    def is_member(globalid: OrgPath, username: UserPath, who: Caller) -> Membership:
        """Members and owners, its API keys, the user asked about, admins."""
        return Membership(IsMember=ids.is_member(who, globalid, username))

    @app.get("/api/organizations/{globalid}/apikeys", tags=["apikeys"])
    def org_keys(globalid: OrgPath, who: Caller) -> list[ApiKeyView]:
        """Owners, admins."""
        ids.require_org(who, globalid, "owner")
        return ids.list_apikeys("organization", globalid)

    @app.post("/api/organizations/{globalid}/apikeys", status_code=201, tags=["apikeys"])
    def new_org_key(globalid: OrgPath, body: NewApiKey, who: Caller) -> ApiKeyCreated:
        """Owners, admins: the secret is in this answer only."""
        ids.require_org(who, globalid, "owner")
        return ids.create_apikey("organization", globalid, body.label, body.role)

    @app.get("/api/organizations/{globalid}/apikeys/{label}", tags=["apikeys"])
    def org_key(globalid: OrgPath, label: LabelPath, who: Caller) -> ApiKeyView:
        """Owners, admins."""
        ids.require_org(who, globalid, "owner")
        return ids.get_apikey("organization", globalid, label)

    @app.delete("/api/organizations/{globalid}/apikeys/{label}", status_code=204, tags=["apikeys"])
    def delete_org_key(globalid: OrgPath, label: LabelPath, who: Caller) -> None:
        """Owners, admins."""
        ids.require_org(who, globalid, "owner")
        ids.delete_apikey("organization", globalid, label)

    # -- admin ----------------------------------------------------------------------------
    @app.post("/api/admin/keys/rotate", tags=["admin"])
    def rotate(who: Caller) -> Rotated:
        """Admins: sign with a new key; the old ones keep verifying live tokens."""
        ids.require_admin(who)
        key = ids.ring.rotate()
        log.info("event=key_rotated kid=%s", key.kid)
        return Rotated(kid=key.kid, keys=ids.ring.kids())

    return app


__all__ = ["MAX_BODY", "create_api", "create_app"]
