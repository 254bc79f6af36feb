"""One zero-id per zero-db namespace: a lease record that ``zos id serve`` holds while it runs.

zero-id keeps records in memory and trusts them because it is the only writer of its namespace
(see :mod:`zeroos.identity.store`); a second process on the same namespace would serve from a
stale memory (a deleted API key could keep working there). So, before serving, zero-id writes
the record ``lease`` in its namespace::

    {"owner": "<host>:<pid>:<random>:<pidns>", "pidns": "pid:[...]", "expires": <unix time>}

(the owner as :class:`zeroos.common.lease.Owner` writes it, as zero-db's Tarantool lease does;
``pidns`` stays for records written before the owner carried it). :class:`Lease` is the shared
:class:`zeroos.common.lease.Lease` over :class:`ZdbKeyLease`, the record in a zero-db key

and renews it every few seconds. ``expires`` is on zero-db's clock (its TIME command), so the
hosts' clocks do not matter. At start:

* a live lease of another owner: refuse to start (:class:`LeaseHeld`, one line naming it);
* a lease whose holder is a dead process of this same host (and pid namespace), or an expired
  lease: take it;
* after writing ours, wait a moment and read it again: another zero-id starting at the same
  time may have written its own in between, and then the last writer wins, the other refuses.

zero-db has no compare-and-set, so two starts can still both win in a narrow race, and anyone
who can write the namespace can overwrite the lease: this guards against mistakes (a second
``zos id serve`` on the same namespace), not against a hostile writer. A running zero-id that
finds another owner's lease (or none) when it renews stops serving, since its memory can no
longer be trusted. While zero-db is unreachable, the lease is not renewed; the next renewal
that reaches it checks the owner again.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Final

from ..common import lease as common
from ..common.lease import Holding, Owner
from ..zdb.client import Client
from ..zdb.errors import KeyNotFound, ZdbError
from .errors import IdentityError, StorageUnavailable

LEASE_KEY: Final = "lease"
LEASE_SECONDS: Final = 15.0
RENEW_EVERY: Final = 5.0
CONFIRM_AFTER: Final = 0.5


class LeaseHeld(IdentityError):
    """Another zero-id holds the namespace's lease."""

    status = 503
    code = "lease_held"


@dataclass(frozen=True)
class LeaseRecord:
    owner: str
    expires: float
    pidns: str = ""

    @property
    def holder(self) -> Owner:
        return Owner.parse(self.owner, self.pidns)

    @property
    def host(self) -> str:
        return self.holder.host

    @property
    def pid(self) -> int | None:
        return self.holder.pid

    def encode(self) -> bytes:
        data = {"owner": self.owner, "pidns": self.pidns, "expires": round(self.expires, 3)}
        return json.dumps(data).encode()

    @classmethod
    def decode(cls, raw: bytes) -> LeaseRecord | None:
        """The record, or None when it is unreadable (then it protects nothing)."""
        try:
            data = json.loads(raw)
            return cls(str(data["owner"]), float(data["expires"]), str(data.get("pidns", "")))
        except (ValueError, TypeError, KeyError):
            return None


class ZdbKeyLease:
    """A lease kept as a JSON record in one key of a zero-db namespace (a LeaseBackend).

    zero-db has no compare-and-set: a claim reads, then writes; :class:`Lease` reads back
    after a pause to catch a racing start.
    """

    errors: tuple[type[Exception], ...] = (ZdbError,)

    def __init__(self, client: Client, key: str = LEASE_KEY) -> None:
        self.client = client
        self.key = key

    def _now(self) -> float:
        seconds, micros = self.client.time()  # zero-db's clock: the hosts' clocks do not matter
        return seconds + micros / 1e6

    def _record(self) -> LeaseRecord | None:
        raw = self.client.get(self.key)
        return None if raw is None else LeaseRecord.decode(raw)

    def holder(self) -> Holding | None:
        record = self._record()
        if record is None:
            return None
        return Holding(record.holder, record.expires - self._now())

    def claim(self, owner: str, seconds: float, steal: str | None = None) -> Holding | None:
        now = self._now()
        record = self._record()
        if record is not None and record.owner not in (owner, steal) and record.expires > now:
            return Holding(record.holder, record.expires - now)
        mine = Owner.parse(owner)
        self.client.set(self.key, LeaseRecord(owner, now + seconds, mine.pidns).encode())
        return None

    def drop(self, owner: str) -> None:
        record = self._record()
        if record is not None and record.owner == owner:
            with contextlib.suppress(KeyNotFound):
                self.client.delete(self.key)


class Lease(common.Lease):
    """zero-id's lease on the namespace of ``client`` (see the module's docstring)."""

    def __init__(
        self,
        client: Client,
        *,
        seconds: float = LEASE_SECONDS,
        renew_every: float | None = None,
        confirm_after: float | None = None,
        key: str = LEASE_KEY,
    ) -> None:
        """``renew_every``: default a third of ``seconds``; ``confirm_after``: the wait before
        the lease just written is read back (default 0.5 s, at most a quarter of ``seconds``)."""
        if confirm_after is None:
            confirm_after = min(CONFIRM_AFTER, seconds / 4)
        self.client = client
        super().__init__(
            ZdbKeyLease(client, key),
            seconds=seconds,
            renew_every=renew_every,
            confirm_after=confirm_after,
            where=f"zero-db namespace {client.namespace!r}",
        )

    @property
    def namespace(self) -> str:
        return self.client.namespace

    def acquire(self) -> Lease:
        """Take the lease or raise :class:`LeaseHeld`; zero-db errors: StorageUnavailable."""
        try:
            super().acquire()
        except common.LeaseHeld as exc:
            who = exc.holding.describe() if exc.holding is not None else None
            if who is None:
                raise LeaseHeld(
                    f"zero-db namespace {self.namespace!r}: the lease just written is gone; is "
                    "another zero-id starting on it? stop that one, or use another namespace"
                ) from None
            raise LeaseHeld(
                f"zero-db namespace {self.namespace!r} is in use by another zero-id ({who}): "
                "stop that one, or use another namespace"
            ) from None
        except ZdbError as exc:
            raise StorageUnavailable(f"zero-db lease: {exc}") from exc
        return self

    def release(self, timeout: float | None = None) -> None:
        """Stop renewing and delete the lease if it is still ours (a clean stop)."""
        super().release(self.client.timeout * 3 if timeout is None else timeout)


__all__ = ["LEASE_KEY", "Lease", "LeaseHeld", "LeaseRecord", "ZdbKeyLease"]
