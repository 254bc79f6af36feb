"""zero-id's public documents: signing keys, OpenID-style discovery, Prometheus counters."""

from typing import Any

from fastapi import APIRouter

from ..oauth import INTROSPECT_PATH
from .deps import Ids

router = APIRouter()

_SCOPES = [
    "user:admin",
    "user:name",
    "user:memberof:<globalid>",
    "organization:owner",
    "organization:member",
]


@router.get("/.well-known/jwks.json", tags=["keys"])
def jwks(ids: Ids) -> dict[str, Any]:
    """Anyone: the public keys that sign tokens (current and still-valid retired ones)."""
    return ids.ring.jwks()


@router.get("/.well-known/openid-configuration", tags=["keys"])
def discovery(ids: Ids) -> dict[str, Any]:
    """Anyone: where the token endpoint and the keys are (OpenID-style)."""
    base = ids.settings.issuer.rstrip("/")
    return {
        "issuer": ids.settings.issuer,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "token_endpoint": f"{base}/v1/oauth/access_token",
        "introspection_endpoint": f"{base}{INTROSPECT_PATH}",
        "grant_types_supported": ["client_credentials", "password"],
        "id_token_signing_alg_values_supported": ["ES384"],
        "scopes_supported": _SCOPES,
    }
