"""Structured logs of every part: logfmt, one event a line, secrets never written.

A line reads ``ts=2026-01-02T03:04:05.678Z level=info logger=zeroos.zdb event=listening
addresses=127.0.0.1:9900``: time (UTC, milliseconds), level, logger, then the event's
``key=value`` pairs. :func:`event` builds the pairs (quoting values with spaces, redacting values
whose key names a secret); :func:`setup_logging` installs the formatter on the ``zeroos`` logger
(only a program's entry point calls it, never a library).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import warnings
from typing import Final, TextIO

REDACTED: Final = "***"
# a key that names one of these carries a secret: its value is never written
_SECRET_WORDS: Final = ("password", "passwd", "secret", "token", "credential", "private")
_SECRET_KEYS: Final = frozenset({"admin", "key", "auth", "authorization"})
_BARE: Final = re.compile(r"^[^\s=\"]+$")


def is_secret(key: str) -> bool:
    """Whether a value logged under ``key`` must be redacted (decided by the key's name)."""
    name = key.lower()
    return name in _SECRET_KEYS or any(word in name for word in _SECRET_WORDS)


def logfmt_value(value: object) -> str:
    """One value as logfmt writes it: bare when it can be, else a double-quoted JSON string."""
    text = value if isinstance(value, str) else str(value)
    return text if _BARE.match(text) else json.dumps(text)


def format_event(name: str, **fields: object) -> str:
    """``event=NAME k=v ...``: the message part of one log line; secrets redacted by key."""
    pairs = [f"event={logfmt_value(name)}"]
    for key, value in fields.items():
        if value is None:
            continue
        shown = REDACTED if is_secret(key) else logfmt_value(value)
        pairs.append(f"{key}={shown}")
    return " ".join(pairs)


def event(
    logger: logging.Logger, name: str, *, level: int = logging.INFO, **fields: object
) -> None:
    """Log one event (``event=NAME`` and its fields) on ``logger``; None fields are left out."""
    if logger.isEnabledFor(level):
        logger.log(level, "%s", format_event(name, **fields))


class LogfmtFormatter(logging.Formatter):
    """One event a line: time, level, logger, then the message's key=value pairs."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return (
            f"ts={stamp}.{int(record.msecs):03d}Z level={record.levelname.lower()} "
            f"logger={record.name} {record.getMessage()}"
        )


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A Python warning (a library's, e.g. the Tarantool connector's NetworkWarning) as an event."""
    event(
        logging.getLogger("zeroos.warnings"),
        "warning",
        level=logging.WARNING,
        category=category.__name__,
        source=f"{filename}:{lineno}",
        message=str(message),
    )


def setup_logging(verbose: bool = False) -> None:
    """Send the ``zeroos`` loggers to stderr as logfmt (info, or debug when ``verbose``).

    Python warnings shown by the libraries we use become ``event=warning`` lines on the same
    stream, instead of raw lines in another layout.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger("zeroos")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    warnings.showwarning = _log_warning


__all__ = [
    "REDACTED",
    "LogfmtFormatter",
    "event",
    "format_event",
    "is_secret",
    "logfmt_value",
    "setup_logging",
]
