"""The server starts, answers redis-py and redis-cli, and stops cleanly."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.both_engines


def test_ping_set_get_with_redis_py(zdb):
    client = zdb.client()
    assert client.ping() is True
    # redis-py's own SET callback turns any reply but "OK" into False; zero-db replies the key
    client.response_callbacks.pop("SET", None)
    assert client.execute_command("SET", "hello", "world") == b"hello"
    assert client.get("hello") == b"world"


def test_redis_cli_talks_to_it(zdb):
    assert zdb.cli("PING").strip() == "PONG"
    assert zdb.cli("SET", "k", "v").strip() == "k"
    assert zdb.cli("GET", "k").strip() == "v"


def test_sigterm_exits_zero(zdb):
    assert zdb.stop() == 0
