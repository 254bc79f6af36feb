"""The root of every error a part raises; `zos` turns it into one line and an exit code."""

from __future__ import annotations


class ZosError(Exception):
    """Base class of every error of every part: a message, an exit code and an optional hint.

    The message names the thing that went wrong; the hint says how to fix it. The command line
    prints ``error: <message>`` (and ``hint: <hint>``) and exits with ``exit_code``.
    """

    exit_code: int = 1

    def __init__(
        self, message: str = "", *, hint: str | None = None, exit_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code
