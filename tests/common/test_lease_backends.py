"""check_lease against each lease backend: a zero-db key (zero-id) and a Tarantool row (zero-db)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from zeroos.common.lease import LeaseBackend
from zeroos.identity.lease import ZdbKeyLease
from zeroos.testing import ZdbProcess
from zeroos.testing.lease import check_lease
from zeroos.zdb.client import Client
from zeroos.zdb.tarantool.cluster import Cluster
from zeroos.zdb.tarantool.lease import TarantoolLease

from ..zdb.tarantool_util import needs_tarantool, session_secret, shared_tarantool

_names = itertools.count()


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def test_a_zero_db_key_keeps_a_lease(tmp_path: Path, stack: ExitStack) -> None:
    server = ZdbProcess(tmp_path).start()
    stack.callback(server.stop)
    key = f"lease-{next(_names)}"

    def make() -> LeaseBackend:
        client = Client(port=server.port, timeout=10)
        stack.callback(client.close)
        return ZdbKeyLease(client, key)

    check_lease(make)


@needs_tarantool
def test_a_tarantool_row_keeps_a_lease(tmp_path: Path, stack: ExitStack) -> None:
    from zeroos.zdb.tarantool.auth import resolve

    instance = shared_tarantool()
    db = f"lease-check-{next(_names)}-{tmp_path.name}"

    def make() -> LeaseBackend:
        plain, credentials = resolve(instance.address, session_secret())
        cluster = Cluster(plain, timeout=10, credentials=credentials)
        stack.callback(cluster.close)
        return TarantoolLease(cluster, db)

    check_lease(make)
