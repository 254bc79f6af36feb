"""``POST /v1/oauth/access_token`` as a plain ASGI app, and the error answers of every route.

The token endpoint is the one route called at a high rate (every client of every part asks it
for tokens), and FastAPI's dependency solving, parameter validation and middleware stack cost
as much CPU as the grant itself. So the app's outer middleware hands this one path straight to
:class:`TokenEndpoint`, which checks the same limits FastAPI's declaration of the route states
(that declaration stays, for the OpenAPI description) and answers the same bodies.
"""

from __future__ import annotations

import base64
import logging
from typing import Any, Final
from urllib.parse import parse_qsl, unquote_plus

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from .errors import BadRequest, IdentityError, InvalidClient
from .models import AccessToken
from .service import Identity, audiences

log = logging.getLogger("zeroos.identity")
TOKEN_PATH: Final = "/v1/oauth/access_token"  # noqa: S105 - a route, not a secret
INTROSPECT_PATH: Final = "/v1/oauth/introspect"  # RFC 7662
MAX_BODY: Final = 64 * 1024
# the longest value of each parameter in the query string (FastAPI answers 422 beyond), and
# the longest of any parameter in a form body (400 beyond)
QUERY_LIMITS: Final = {
    "grant_type": 40,
    "client_id": 200,
    "client_secret": 200,
    "username": 200,
    "password": 200,
    "scope": 2000,
    "response_type": 40,
    "aud": 2000,
}
_BODY_LIMIT: Final = 2000
_FORM: Final = b"application/x-www-form-urlencoded"
_JSON_HEADERS: Final = [(b"content-type", b"application/json")]
_TEXT_HEADERS: Final = [(b"content-type", b"text/plain; charset=utf-8")]
_SERVER_ERROR: Final = JSONResponse(
    {"error": "server_error", "error_description": "internal error, see the server log"}, 500
)


def error_response(exc: IdentityError, challenge: str = "Bearer") -> JSONResponse:
    """The JSON error answer; a 401 names ``challenge``, the scheme the caller should use."""
    headers = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = challenge
    retry = getattr(exc, "retry_after", None)
    if retry is not None:
        headers["Retry-After"] = str(retry)
    return JSONResponse(
        {"error": exc.code, "error_description": exc.message}, exc.status, headers=headers
    )


def invalid_response(problems: list[dict[str, str]]) -> JSONResponse:
    """422 listing where the input is wrong; never the input itself (it may be a password)."""
    text = "; ".join(f"{p['loc']}: {p['msg']}" for p in problems)
    return JSONResponse(
        {"error": "invalid_request", "error_description": text, "detail": problems}, 422
    )


class _Invalid(Exception):
    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("invalid query")
        self.problems = problems


async def _read_body(receive: Receive) -> bytes:
    """The whole body (at most MAX_BODY: the app's guard answers 413 past it)."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            # the client left, or sent too much (answered 413 already): grant nothing
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        more = bool(message.get("more_body"))
    return b"".join(chunks)


async def read_form(receive: Receive) -> dict[str, str]:
    """A form body's fields (at most 20)."""
    body = (await _read_body(receive)).decode("utf-8", errors="replace")
    try:
        return dict(parse_qsl(body, max_num_fields=20))
    except ValueError as exc:
        raise BadRequest("at most 20 form fields") from exc


def _sent_basic(scope: Scope) -> bool:
    return any(
        name == b"authorization" and value.strip()[:6].lower() == b"basic "
        for name, value in scope["headers"]
    )


def basic_credentials(scope: Scope) -> tuple[str, str] | None:
    """The client id and secret of an ``Authorization: Basic`` header (RFC 6749 2.3.1: each
    form-urlencoded, joined by a colon, in base64); None without one."""
    for name, value in scope["headers"]:
        if name != b"authorization":
            continue
        kind, _, encoded = value.decode("latin-1").strip().partition(" ")
        if kind.lower() != "basic":
            return None
        try:
            text = base64.b64decode(encoded.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidClient("Authorization: Basic must hold base64(client_id:secret)") from exc
        client_id, colon, secret = text.partition(":")
        if not colon or not client_id or not secret:
            raise InvalidClient("Authorization: Basic must hold base64(client_id:secret)")
        return unquote_plus(client_id), unquote_plus(secret)
    return None


async def read_params(scope: Scope, receive: Receive) -> dict[str, str]:
    """The grant's parameters: the form body's, overridden by the query string's."""
    query: dict[str, str] = {}
    problems = []
    raw_query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        limit = QUERY_LIMITS.get(key)
        if limit is None:
            continue
        query[key] = value
        if len(value) > limit:
            msg = f"String should have at most {limit} characters"
            problems.append({"loc": f"query.{key}", "msg": msg})
    if problems:
        raise _Invalid(problems)
    params: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name == b"content-type":
            if value.startswith(_FORM):
                params.update(await read_form(receive))
            elif value.startswith(b"application/json") and "grant_type" not in query:
                raise BadRequest(
                    "grant_type is missing: the token endpoint reads a form body "
                    "(application/x-www-form-urlencoded) or the query string, not JSON"
                )
            break
    params.update(query)
    basic = basic_credentials(scope)
    if basic is not None:
        if "client_id" in params or "client_secret" in params:
            # RFC 6749 2.3.1: one way of authenticating the client per request
            raise BadRequest("client credentials both in Authorization: Basic and the request")
        params["client_id"], params["client_secret"] = basic
    for key, value in params.items():
        if len(value) > _BODY_LIMIT:
            raise BadRequest(f"{key} is too long")
    return params


class TokenEndpoint:
    """The OAuth2 token endpoint: client_credentials on the event loop, password in a thread."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    async def grant(self, scope: Scope, receive: Receive) -> tuple[AccessToken, bool]:
        """The answer, and whether it is to be sent as a bare JWT (``response_type=id_token``,
        ItsYou.Online's way to get a JWT for another service straight from a grant)."""
        params = await read_params(scope, receive)
        client = scope.get("client")
        address = str(client[0]) if client else "?"
        ids = self.identity
        wanted = params.get("scope")
        id_token = params.get("response_type") == "id_token"
        if params.get("response_type") not in (None, "", "id_token"):
            raise BadRequest("response_type must be id_token, or left out")
        if id_token and not wanted:
            # never a user:admin or organization:owner JWT handed on by accident
            raise BadRequest("response_type=id_token needs a scope")
        aud = audiences(params.get("aud"))
        if aud and not id_token:
            raise BadRequest("aud needs response_type=id_token")
        grant = params.get("grant_type")
        if grant == "client_credentials":
            cid, secret = params.get("client_id"), params.get("client_secret")
            if not cid or not secret:
                raise BadRequest("client_credentials needs client_id and client_secret")
            answer = await ids.client_credentials(
                cid, secret, wanted, address, audience=aud, exact_scope=id_token
            )
            return answer, id_token
        if grant == "password":
            user, pw = params.get("username"), params.get("password")
            if not user or not pw:
                raise BadRequest("the password grant needs username and password")
            # argon2 on every call: a worker thread, not the event loop
            answer = await run_in_threadpool(
                lambda: ids.password_grant(
                    user, pw, params.get("client_id"), wanted, address, audience=aud
                )
            )
            return answer, id_token
        if not grant:
            raise BadRequest("grant_type is missing: client_credentials or password")
        raise BadRequest(f"grant_type must be client_credentials or password, not {grant[:40]!r}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            answer, id_token = await self.grant(scope, receive)
        except IdentityError as exc:
            # RFC 6749 5.2: a client that authenticated with Basic is answered with Basic
            basic = isinstance(exc, InvalidClient) and _sent_basic(scope)
            await error_response(exc, 'Basic realm="zero-id"' if basic else "Bearer")(
                scope, receive, send
            )
            return
        except _Invalid as exc:
            await invalid_response(exc.problems)(scope, receive, send)
            return
        except ClientDisconnect:
            return  # nobody to answer
        except Exception:
            # outside FastAPI's error middleware: answer 500 as it would, and log the trace
            log.exception("event=token_endpoint_error")
            await _SERVER_ERROR(scope, receive, send)
            return
        if id_token:
            body, kind = answer.access_token.encode(), _TEXT_HEADERS
        else:
            body, kind = answer.model_dump_json().encode(), _JSON_HEADERS
        headers = [*kind, (b"content-length", str(len(body)).encode())]
        start: dict[str, Any] = {"type": "http.response.start", "status": 200, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": body})


__all__ = [
    "INTROSPECT_PATH",
    "MAX_BODY",
    "QUERY_LIMITS",
    "TOKEN_PATH",
    "TokenEndpoint",
    "basic_credentials",
    "error_response",
    "invalid_response",
    "read_form",
    "read_params",
]
