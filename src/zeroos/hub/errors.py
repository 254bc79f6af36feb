"""Errors of zero-hub: one root, each kind with the HTTP status it is answered with."""

from __future__ import annotations

from typing import ClassVar

from ..common.errors import ZosError


class HubError(ZosError):
    """Base class of every zero-hub error; ``status`` is the HTTP answer the server gives."""

    status: ClassVar[int] = 500


class BadRequest(HubError):
    """Input the hub cannot use: a bad name, a damaged archive or flist."""

    status = 400


class Unauthorized(HubError):
    """No bearer token, or one zero-id does not vouch for."""

    status = 401


class Forbidden(HubError):
    """A valid caller acting where it may not (another user's repository)."""

    status = 403


class NotFound(HubError):
    """No such repository, flist or tag."""

    status = 404


class Conflict(HubError):
    """The name is taken, or the flist names blocks the hub does not hold."""

    status = 409


class LengthRequired(HubError):
    """An upload without a Content-Length: its size must be known before it is read."""

    status = 411


class TooLarge(HubError):
    """An upload past the hub's size limit."""

    status = 413


class StoreError(HubError):
    """The hub's block store cannot be reached."""

    status = 503
