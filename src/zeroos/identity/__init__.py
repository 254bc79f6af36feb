"""zero-id: users, organisations, API keys and ES384 JWTs (ItsYou.Online's model), in zero-db.

Other parts check bearer tokens with :class:`Verifier` (``zeroos.identity.verify``; asyncio
services: :class:`AsyncVerifier`)::

    from zeroos.identity import Verifier

    claims = Verifier("http://127.0.0.1:8080").verify(token, scope="user:memberof:ops")

The server side (FastAPI app, store, key ring) is in the submodules; ``zos id serve`` runs it.
"""

from .errors import (
    BadRequest,
    Conflict,
    Forbidden,
    IdentityError,
    InvalidClient,
    InvalidToken,
    NotFound,
    StorageUnavailable,
    Throttled,
    Unauthorized,
)
from .verify import AsyncVerifier, MissingScope, Verifier, require_scope

__all__ = [
    "AsyncVerifier",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "IdentityError",
    "InvalidClient",
    "InvalidToken",
    "MissingScope",
    "NotFound",
    "StorageUnavailable",
    "Throttled",
    "Unauthorized",
    "Verifier",
    "require_scope",
]
