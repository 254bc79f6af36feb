"""Errors of zero-robot: one root, each kind with the HTTP status it is answered with."""

from __future__ import annotations

from typing import ClassVar

from ..common.errors import ZosError


class RobotError(ZosError):
    """Base class of every zero-robot error; ``status`` is the HTTP answer the server gives."""

    status: ClassVar[int] = 500


class BadRequest(RobotError):
    """Input the robot cannot use: data a template's schema refuses, an unknown action."""

    status = 400


class Unauthorized(RobotError):
    """No bearer token, or one zero-id does not vouch for."""

    status = 401


class Forbidden(RobotError):
    """A valid caller acting where it may not."""

    status = 403


class NotFound(RobotError):
    """No such service, task or template."""

    status = 404


class Conflict(RobotError):
    """A service of that name exists already with another template or other data."""

    status = 409


class TemplateError(RobotError):
    """A template that cannot be loaded (syntax error, failing import, no class)."""

    status = 400


class RepositoryError(RobotError):
    """A template repository that cannot be cloned or read (a 4xx: the caller named it)."""

    status = 400


class StoreError(RobotError):
    """The robot's data folder cannot be written or read."""

    status = 500
