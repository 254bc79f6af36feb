"""What zero-id's routes depend on: the service, the caller of a bearer token, path types.

The service lives on ``app.state`` (set once by :func:`zeroos.identity.routes.create_api`);
the ``Authorization`` header is read and parsed here once, for every route that needs a caller.
"""

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyHeader

from ..models import GLOBALID_MAX, GLOBALID_PATTERN, LABEL_PATTERN, USERNAME_PATTERN
from ..oauth import TokenEndpoint
from ..service import Identity, Principal
from ..verify import bearer

UserPath = Annotated[str, Path(pattern=USERNAME_PATTERN, max_length=30)]
OrgPath = Annotated[str, Path(pattern=GLOBALID_PATTERN, max_length=GLOBALID_MAX)]
LabelPath = Annotated[str, Path(pattern=LABEL_PATTERN, max_length=50)]

auth_header = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    description="`bearer <JWT>` (or `token <JWT>`) from /v1/oauth/access_token",
)


def identity(request: Request) -> Identity:
    """The app's zero-id service."""
    service: Identity = request.app.state.identity
    return service


def token_endpoint(request: Request) -> TokenEndpoint:
    """The app's OAuth2 token endpoint."""
    endpoint: TokenEndpoint = request.app.state.token
    return endpoint


Ids = Annotated[Identity, Depends(identity)]


def bearer_token(
    authorization: Annotated[str | None, Depends(auth_header)] = None,
) -> str | None:
    """The JWT of the request's ``Authorization: bearer`` header; None without the header."""
    if authorization is None:
        return None
    return bearer(authorization)


Bearer = Annotated[str | None, Depends(bearer_token)]


def required_bearer(authorization: Annotated[str | None, Depends(auth_header)] = None) -> str:
    """The JWT of the request's ``Authorization: bearer`` header, which must be there."""
    return bearer(authorization)


RequiredBearer = Annotated[str, Depends(required_bearer)]


def caller(ids: Ids, token: Bearer) -> Principal | None:
    """Who the bearer token speaks for (tokens for another audience refused); None: anonymous."""
    if token is None:
        return None
    return ids.authenticate(token)


Caller = Annotated[Principal | None, Depends(caller)]


def client_address(request: Request) -> str:
    """The peer's address, for throttling ("?" when the server does not know it)."""
    return request.client.host if request.client else "?"


Address = Annotated[str, Depends(client_address)]
