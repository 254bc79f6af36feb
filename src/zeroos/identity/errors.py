"""Errors of zero-id: each carries the HTTP status and OAuth-style code it is answered with."""

from __future__ import annotations

from ..common.errors import ZosError


class IdentityError(ZosError):
    """Base class: a one-line message a user can read, answered with ``status``."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(IdentityError):
    """The request is well-formed but asks for something impossible."""


class TooLarge(IdentityError):
    """A request body over the limit (413), however it is sent (length or chunks)."""

    status = 413


class Unauthorized(IdentityError):
    """No credentials, or credentials that do not prove anything (401)."""

    status = 401
    code = "unauthorized"


class InvalidToken(Unauthorized):
    """A bearer token that is malformed, expired, of another issuer or badly signed."""

    code = "invalid_token"


class InvalidClient(Unauthorized):
    """Wrong client id/secret or username/password at the token endpoint."""

    code = "invalid_client"


class Forbidden(IdentityError):
    """Authenticated, but not allowed to do this (403)."""

    status = 403
    code = "forbidden"


class NotFound(IdentityError):
    """The user, organisation, key or invitation does not exist (404)."""

    status = 404
    code = "not_found"


class Conflict(IdentityError):
    """The name is taken, or the change would break a rule (409)."""

    status = 409
    code = "conflict"


class Throttled(IdentityError):
    """Too many failed logins for this user or address (429)."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after + 0.999))


class StorageUnavailable(IdentityError):
    """zero-db cannot be reached or refused the operation (503)."""

    status = 503
    code = "temporarily_unavailable"


__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "IdentityError",
    "InvalidClient",
    "InvalidToken",
    "NotFound",
    "StorageUnavailable",
    "Throttled",
    "TooLarge",
    "Unauthorized",
]
