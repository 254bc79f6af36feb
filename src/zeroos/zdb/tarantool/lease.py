"""One zero-db per Tarantool database: the lease row in the ``zdb_lease`` space (a LeaseBackend).

init.lua keeps the row and takes or renews it in one call (``zdb_lease``: compare-and-set on
the leader), so no read-back is needed; the engine holds it through the shared
:class:`zeroos.common.lease.Lease` and names its owner in every write (``zdb_apply`` refuses
an owner that lost it).
"""

from __future__ import annotations

from typing import Any

from ...common.lease import Holding, Owner
from ..errors import StorageError
from .cluster import Cluster


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class TarantoolLease:
    """The lease of database ``db`` in a Tarantool replica set."""

    errors: tuple[type[Exception], ...] = (StorageError,)

    def __init__(self, cluster: Cluster, db: str) -> None:
        self.cluster = cluster
        self.db = db
        # renewals run in their own thread, which must not fail over (cluster.call): the
        # engine turns this off once the lease is taken
        self.failover = True

    def holder(self) -> Holding | None:
        row = self.cluster.call("zdb_lease_holder", self.db, failover=self.failover)
        if not row or row[0] is None:
            return None
        owner, left = row[0]
        return Holding(Owner.parse(_text(owner)), float(left))

    def claim(self, owner: str, seconds: float, steal: str | None = None) -> Holding | None:
        ok, *holder = self.cluster.call(
            "zdb_lease", self.db, owner, seconds, steal, failover=self.failover
        )[0]
        if ok:
            return None
        return Holding(Owner.parse(_text(holder[0])), float(holder[1]))

    def drop(self, owner: str) -> None:
        self.cluster.call("zdb_unlease", self.db, owner, failover=self.failover)


__all__ = ["TarantoolLease"]
