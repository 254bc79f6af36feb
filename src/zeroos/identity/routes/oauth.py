"""zero-id's OAuth routes: the token endpoint's description, introspection, JWTs and refresh."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ..errors import BadRequest, InvalidToken
from ..models import AccessToken
from ..oauth import (
    INTROSPECT_PATH,
    QUERY_LIMITS,
    TOKEN_PATH,
    TokenEndpoint,
    basic_credentials,
    read_form,
)
from ..verify import bearer
from .deps import Address, Caller, Ids, RequiredBearer, token_endpoint

router = APIRouter(tags=["oauth"])


def _limited(name: str) -> Any:
    return Query(max_length=QUERY_LIMITS[name])


@router.post(
    TOKEN_PATH,
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
    token: Annotated[TokenEndpoint, Depends(token_endpoint)],
    grant_type: Annotated[str | None, _limited("grant_type")] = None,
    client_id: Annotated[str | None, _limited("client_id")] = None,
    client_secret: Annotated[str | None, _limited("client_secret")] = None,
    username: Annotated[str | None, _limited("username")] = None,
    password: Annotated[str | None, _limited("password")] = None,
    scope: Annotated[str | None, _limited("scope")] = None,
    response_type: Annotated[str | None, _limited("response_type")] = None,
    aud: Annotated[str | None, _limited("aud")] = None,
) -> Response:
    """Anyone. `grant_type=client_credentials` (client_id = username or globalid,
    client_secret = an API key's secret) or `grant_type=password` (username, password).
    Parameters come as a form body or in the query string. With `response_type=id_token`
    and a `scope` (and optionally `aud`), the answer is the JWT alone, as text."""
    # served by the guard's hand-off to TokenEndpoint (zeroos.identity.app); this declaration
    # describes the route in the OpenAPI document (and answers the same if it is ever reached)
    answer, id_token = await token.grant(request.scope, request.receive)
    if id_token:
        return PlainTextResponse(answer.access_token)
    return JSONResponse(answer.model_dump())


@router.post(
    INTROSPECT_PATH,
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
async def introspect(request: Request, ids: Ids, address: Address) -> dict[str, Any]:
    """A caller with a bearer token of ours, or an API key as `Authorization: Basic`
    (client_id:secret): RFC 7662 token introspection of the form field `token`. The answer
    is `{"active": false}` for a token zero-id would refuse now (expired, forged, of a
    deleted user...), else its scope (space-separated), client_id, sub, exp, iat..."""
    basic = basic_credentials(request.scope)
    if basic is not None:
        await ids.check_client(*basic, address)
    else:
        # either Basic or bearer: the header is read here, not by the Caller dependency
        header = request.headers.get("authorization")
        if header is None:
            raise InvalidToken("introspection needs Authorization: bearer <JWT> or Basic")
        await run_in_threadpool(ids.authenticate, bearer(header))
    token = (await read_form(request.receive)).get("token")
    if not token:
        raise BadRequest("the form field token is missing")
    return await run_in_threadpool(ids.introspect, token)


def _get_and_post(
    router: APIRouter, path: str, endpoint: Callable[..., PlainTextResponse], doc: str
) -> None:
    """One route for GET and one for POST (ItsYou.Online takes both), each with its own id."""
    for method in ("GET", "POST"):
        router.add_api_route(
            path, endpoint, methods=[method], description=doc, response_class=PlainTextResponse
        )


def jwt_router(max_validity: int) -> APIRouter:
    """``/v1/oauth/jwt``: its ``validity`` bound is the service's setting, so it is made per app."""
    jwt = APIRouter(tags=["oauth"])
    doc = (
        "A caller with a bearer token of ours (no audience): a JWT with the asked `scope` "
        "(comma-separated; only what is true now), `aud` and `validity` (seconds)."
    )
    Validity = Annotated[int | None, Query(ge=1, le=max_validity)]

    def _jwt(
        who: Caller,
        ids: Ids,
        scope: Annotated[str | None, Query(max_length=2000)] = None,
        aud: Annotated[str | None, Query(max_length=2000)] = None,
        validity: Validity = None,
    ) -> PlainTextResponse:
        return PlainTextResponse(ids.jwt(who, scope, aud, validity))

    _get_and_post(jwt, "/v1/oauth/jwt", _jwt, doc)
    return jwt


_REFRESH_DOC = (
    "The holder of an unexpired JWT of ours: the same JWT renewed (scopes re-checked). "
    "Works for JWTs with an audience too."
)


def _refresh(ids: Ids, token: RequiredBearer) -> PlainTextResponse:
    who = ids.authenticate(token, any_audience=True)
    return PlainTextResponse(ids.refresh(who))


_get_and_post(router, "/v1/oauth/jwt/refresh", _refresh, _REFRESH_DOC)
