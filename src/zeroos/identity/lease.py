"""One zero-id per zero-db namespace: a lease record that ``zos id serve`` holds while it runs.

zero-id keeps records in memory and trusts them because it is the only writer of its namespace
(see :mod:`zeroos.identity.store`); a second process on the same namespace would serve from a
stale memory (a deleted API key could keep working there). So, before serving, zero-id writes
the record ``lease`` in its namespace::

    {"owner": "<host>:<pid>:<random>:<pidns>", "pidns": "pid:[...]", "expires": <unix time>}

(the owner as :class:`zeroos.common.lease.Owner` writes it, as zero-db's Tarantool lease does;
``pidns`` stays for records written before the owner carried it)

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
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..common.lease import Owner
from ..zdb.client import Client
from ..zdb.errors import KeyNotFound, ZdbError
from .errors import IdentityError, StorageUnavailable

log = logging.getLogger("zeroos.identity")

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

    def describe(self, now: float) -> str:
        left = max(0, round(self.expires - now))
        return f"{self.holder.describe()}, lease ends in {left} s unless renewed"


class Lease:
    """This process's lease on the namespace of ``client``: :meth:`acquire`, :meth:`start`
    (renewals in a thread), :meth:`release` (on a clean stop)."""

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
        renew_every = seconds / 3 if renew_every is None else renew_every
        if confirm_after is None:
            confirm_after = min(CONFIRM_AFTER, seconds / 4)
        if not 0 < renew_every < seconds:
            raise IdentityError(
                f"lease: renewals every {renew_every:g} s must be more often than the "
                f"lease's {seconds:g} s"
            )
        if not 0 <= confirm_after < seconds:
            raise IdentityError(f"lease: confirmation after {confirm_after:g} s is too late")
        self.client = client
        self.seconds = seconds
        self.renew_every = renew_every
        self.confirm_after = confirm_after
        self.key = key
        owner = Owner.mine()
        self.owner = str(owner)
        self.pidns = owner.pidns
        self.lost = False
        self.held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_lost: list[Callable[[], None]] = []

    @property
    def namespace(self) -> str:
        return self.client.namespace

    # -- zero-db ----------------------------------------------------------------------------
    def _now(self) -> float:
        seconds, micros = self.client.time()
        return seconds + micros / 1e6

    def _read(self) -> LeaseRecord | None:
        raw = self.client.get(self.key)
        return None if raw is None else LeaseRecord.decode(raw)

    def _write(self, now: float) -> None:
        record = LeaseRecord(self.owner, now + self.seconds, self.pidns)
        self.client.set(self.key, record.encode())

    def _takeable(self, record: LeaseRecord | None, now: float) -> bool:
        if record is None or record.owner == self.owner or record.expires <= now:
            return True
        return record.holder.gone()

    def _held_error(self, record: LeaseRecord, now: float) -> LeaseHeld:
        return LeaseHeld(
            f"zero-db namespace {self.namespace!r} is in use by another zero-id "
            f"({record.describe(now)}): stop that one, or use another namespace"
        )

    # -- the lease --------------------------------------------------------------------------
    def acquire(self) -> Lease:
        """Take the lease or raise :class:`LeaseHeld`; zero-db errors: StorageUnavailable."""
        try:
            now = self._now()
            record = self._read()
            if record is not None and not self._takeable(record, now):
                raise self._held_error(record, now)
            if record is not None:
                log.warning(
                    "event=lease_taken namespace=%s previous=%r reason=%s",
                    self.namespace,
                    record.owner,
                    "expired" if record.expires <= now else "holder_dead",
                )
            self._write(now)
            if self.confirm_after:
                time.sleep(self.confirm_after)
            record = self._read()
            if record is None or record.owner != self.owner:
                now = self._now()
                if record is None:
                    raise LeaseHeld(
                        f"zero-db namespace {self.namespace!r}: the lease just written is "
                        "gone; is another zero-id starting on it? stop that one, or use "
                        "another namespace"
                    )
                raise self._held_error(record, now)
        except ZdbError as exc:
            raise StorageUnavailable(f"zero-db lease: {exc}") from exc
        self.held = True
        log.info(
            "event=lease_acquired namespace=%s owner=%s seconds=%g",
            self.namespace,
            self.owner,
            self.seconds,
        )
        return self

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the renewal thread) when the lease is found lost."""
        self._on_lost.append(callback)
        if self.lost:
            callback()

    def start(self) -> Lease:
        """Renew the lease every ``renew_every`` seconds in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._renewals, name="zeroid-lease", daemon=True)
            self._thread.start()
        return self

    def _renewals(self) -> None:
        failing = False
        while not self._stop.wait(self.renew_every):
            try:
                renewed = self.renew()
            except ZdbError as exc:
                if not failing:
                    log.warning(
                        "event=lease_renewal_failed namespace=%s error=%r", self.namespace, exc
                    )
                failing = True
                continue
            if failing:
                log.info("event=lease_renewed namespace=%s", self.namespace)
                failing = False
            if not renewed:
                return

    def renew(self) -> bool:
        """Extend the lease when it is still ours (True); else mark it lost (False)."""
        now = self._now()
        record = self._read()
        if record is None or record.owner != self.owner:
            self._lose(record, now)
            return False
        self._write(now)
        return True

    def _lose(self, record: LeaseRecord | None, now: float) -> None:
        self.lost = True
        self.held = False
        holder = "nobody (deleted)" if record is None else record.describe(now)
        log.error(
            "event=lease_lost namespace=%s holder=%r: another zero-id took this namespace; "
            "stopping, since this one's memory of the records can no longer be trusted",
            self.namespace,
            holder,
        )
        for callback in self._on_lost:
            callback()

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still ours (a clean stop)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.client.timeout * 3)
        if not self.held:
            return
        self.held = False
        try:
            record = self._read()
            if record is not None and record.owner == self.owner:
                with contextlib.suppress(KeyNotFound):
                    self.client.delete(self.key)
                log.info("event=lease_released namespace=%s", self.namespace)
        except ZdbError as exc:
            log.warning("event=lease_release_failed namespace=%s error=%r", self.namespace, exc)


__all__ = ["LEASE_KEY", "Lease", "LeaseHeld", "LeaseRecord"]
