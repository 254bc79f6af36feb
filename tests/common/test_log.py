"""The logfmt event helper: one event a line, values quoted when needed, secrets redacted."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator

import pytest
from tarantool.error import NetworkWarning

from zeroos.common.log import LogfmtFormatter, event, format_event, is_secret, setup_logging


def test_format_quotes_what_needs_it_and_skips_none() -> None:
    line = format_event(
        "listening", addresses="127.0.0.1:1,unix:/s", hint="set --admin", n=3, x=None
    )
    assert line == 'event=listening addresses=127.0.0.1:1,unix:/s hint="set --admin" n=3'
    assert format_event("x", v='a"b=c') == r'event=x v="a\"b=c"'
    assert format_event("x", v="") == 'event=x v=""'


@pytest.mark.parametrize(
    "key", ["password", "admin", "zdb_password", "client_secret", "token", "private_key", "key"]
)
def test_secrets_are_redacted_by_key_name(key: str) -> None:
    assert is_secret(key)
    assert format_event("login", **{key: "hunter2"}) == f"event=login {key}=***"


@pytest.mark.parametrize("key", ["user", "namespace", "addresses", "admin_user", "keys_loaded"])
def test_other_keys_are_not(key: str) -> None:
    assert not is_secret(key)


@pytest.fixture
def zeroos_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger("zeroos")
    saved = (root.handlers[:], root.level, root.propagate)
    yield logging.getLogger("zeroos.testpart")
    root.handlers[:], root.level, root.propagate = saved


def test_one_line_per_event_on_stderr(
    zeroos_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging()
    assert isinstance(logging.getLogger("zeroos").handlers[0].formatter, LogfmtFormatter)
    event(zeroos_logger, "started", where="a b", password="pw")
    event(zeroos_logger, "detail", level=logging.DEBUG, n=1)  # below info: not written
    zeroos_logger.warning("event=legacy k=%s", "v")  # %-style messages keep their format
    lines = capsys.readouterr().err.splitlines()
    stamp = r"ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert len(lines) == 2, lines
    assert re.fullmatch(
        stamp + r' level=info logger=zeroos\.testpart event=started where="a b" password=\*\*\*',
        lines[0],
    )
    assert re.fullmatch(
        stamp + r" level=warning logger=zeroos\.testpart event=legacy k=v", lines[1]
    )


def test_a_librarys_warning_becomes_an_event(
    zeroos_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Tarantool connector warns (NetworkWarning) when a connection drops: one event line."""
    with warnings.catch_warnings():  # restores the warning filters and showwarning after
        setup_logging()
        warnings.simplefilter("always")  # as the connector sets it; pytest makes them errors
        warnings.warn_explicit(
            "Reconnecting, attempt 0 of 0", NetworkWarning, "tarantool.connection", 1402
        )
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].endswith(
        " level=warning logger=zeroos.warnings event=warning category=NetworkWarning"
        ' source=tarantool.connection:1402 message="Reconnecting, attempt 0 of 0"'
    ), lines
