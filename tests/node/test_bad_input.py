"""Bad jobs get one clear ERROR (or UNKNOWN_CMD, DUPLICATE_ID) result; the node keeps serving."""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any

import pytest
import redis
from zeroos.core0.client import Client, ResultError

from .conftest import Node

WAIT = 60


def _result(r: redis.Redis, job_id: str) -> dict[str, Any]:
    popped = r.brpoplpush(f"result:{job_id}", f"result:{job_id}", WAIT)
    assert popped is not None
    return dict(json.loads(popped))


def test_unknown_command(client: Client) -> None:
    result = client.raw("nope.nothing", {}).get(WAIT)
    assert result.state == "UNKNOWN_CMD"
    assert result.data == "unknown command 'nope.nothing'"
    assert client.ping() == "PONG"


@pytest.mark.parametrize(
    ("command", "arguments", "line"),
    [
        (
            "filesystem.list",
            {"path": 3},
            "filesystem.list: argument 'path': Input should be a valid string",
        ),
        (
            "core.system",
            {"name": "true", "args": "x"},
            "core.system: argument 'args': Input should be a valid list",
        ),
        ("core.system", {}, "core.system: argument 'name': Field required"),
        ("core.ping", {"extra": 1}, "core.ping: argument 'extra': Extra inputs are not permitted"),
    ],
)
def test_wrong_arguments(client: Client, command: str, arguments: Any, line: str) -> None:
    result = client.raw(command, arguments).get(WAIT)
    assert (result.state, result.data) == ("ERROR", line)
    assert client.ping() == "PONG"


def test_jobs_that_are_not_json(dev_node: Node, client: Client) -> None:
    r = redis.Redis(port=dev_node.port, socket_timeout=WAIT)
    # without an id nobody waits for an answer: dropped (and logged); the node goes on
    for junk in (b"not json", b"[1, 2]", b"\xff\xfe", json.dumps({"command": "core.ping"})):
        r.rpush("core:default", junk)
    assert client.ping() == "PONG"
    # with an id, a field of the wrong type is that job's ERROR result
    job_id = uuid.uuid4().hex
    r.rpush("core:default", json.dumps({"id": job_id, "command": "core.ping", "max_time": "x"}))
    result = _result(r, job_id)
    assert (result["state"], result["data"]) == (
        "ERROR",
        "job field 'max_time' has the wrong type (str)",
    )
    assert "job field 'max_time'" in result["critical"]
    # arguments that are no object (0-core-client cannot even send them)
    job_id = uuid.uuid4().hex
    r.rpush("core:default", json.dumps({"id": job_id, "command": "job.kill", "arguments": [1]}))
    result = _result(r, job_id)
    assert result["data"] == "job.kill: arguments must be a JSON object, not list"
    assert client.ping() == "PONG"


def test_duplicate_id_leaves_the_first_job_alone(client: Client) -> None:
    first = client.system("sleep 120")
    second = client.system("true", id=first.id)
    assert second.get(WAIT).state == "DUPLICATE_ID"
    assert client.job.list(first.id)[0]["cmd"]["arguments"]["name"] == "sleep"
    client.job.kill(first.id)


def test_resp_errors_keep_the_connection(dev_node: Node) -> None:
    r = redis.Redis(port=dev_node.port, socket_timeout=WAIT)
    with pytest.raises(redis.ResponseError, match="unknown command 'GET'"):
        r.get("x")
    with pytest.raises(redis.ResponseError, match="wrong arguments for 'expire'"):
        r.execute_command("EXPIRE", "x")
    with pytest.raises(redis.ResponseError, match="wrong arguments for 'blpop'"):
        r.execute_command("BLPOP", "x", "-1")
    assert r.ping()


def test_a_failing_kill_is_an_error(client: Client) -> None:
    with pytest.raises(ResultError, match="no running job 'absent'"):
        client.job.kill("absent")
    with pytest.raises(ResultError, match="no process 999999999"):
        client.process.kill(999999999)


def test_a_client_gone_while_blocked_takes_nothing(dev_node: Node) -> None:
    # a client that closed during BLPOP must not pop (and lose) a value pushed afterwards
    key = f"gone:{uuid.uuid4().hex}"
    blocked = socket.create_connection(("127.0.0.1", dev_node.port), timeout=WAIT)
    blocked.sendall(f"*3\r\n$5\r\nBLPOP\r\n${len(key)}\r\n{key}\r\n$2\r\n30\r\n".encode())
    r = redis.Redis(port=dev_node.port, socket_timeout=WAIT, protocol=2)
    assert r.ping()  # a round trip after the BLPOP was sent: the node has it (one loop, in order)
    blocked.close()
    # the node must see the close before the push; nothing outside it shows when it has, so
    # this gives it 2 s (before the fix the value was lost whatever the wait)
    time.sleep(2)
    r.rpush(key, "kept")
    assert r.lpop(key) == b"kept"
