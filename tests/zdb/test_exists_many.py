"""exists_many (EXISTS pipelined) on both zero-db clients against real servers: answers in
order across batches, in a namespace with a password, and a pipeline
cut by an error reply leaves no unread reply behind for the next command."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from zeroos.zdb import ZdbResponseError
from zeroos.zdb.client.steps import PIPELINE_BATCH

from .clients import KINDS, Caller

pytestmark = pytest.mark.both_engines


@pytest.fixture(params=KINDS)
def caller(request: pytest.FixtureRequest, zdb_factory) -> Iterator[Caller]:
    """A client of the test's kind on a server with admin password 'secret'."""
    server = zdb_factory("--admin", "secret")
    admin = Caller(str(request.param), port=server.port, admin_password="secret")
    try:
        admin.nsnew("blocks")
        admin.nsset("blocks", "password", "pw")
        admin.nsset("blocks", "public", False)
    finally:
        admin.dispose()
    made = Caller(str(request.param), port=server.port, namespace="blocks", password="pw")
    yield made
    made.dispose()


def test_answers_in_order_across_batches(caller: Caller) -> None:
    keys = [f"key{i}".encode() for i in range(2 * PIPELINE_BATCH + 7)]
    for key in keys[::3]:
        caller.set(key, b"v")
    assert caller.exists_many(keys) == [i % 3 == 0 for i in range(len(keys))]
    assert caller.exists_many([]) == []
    assert caller.info()["commands_failed"] == 0


def test_an_error_reply_cuts_the_pipeline_and_the_connection_is_not_reused(
    caller: Caller,
) -> None:
    caller.set(b"here", b"v")
    keys = [b"here", b"x" * 300, b"here", b"there"]  # 300 bytes: past zero-db's key limit
    with pytest.raises(ZdbResponseError):
        caller.exists_many(keys)
    # the replies left unread went with the connection: the next commands read their own
    assert caller.get(b"here") == b"v"
    assert caller.exists_many([b"there", b"here"]) == [False, True]
