"""Connections to a Tarantool replica set: find the leader, promote one when it died.

Tarantool 2.6.0 (Debian 12) has synchronous replication (``replication_synchro_quorum``,
``is_sync`` spaces) but no built-in leader election (``election_mode`` came with 2.6.1), so
failover is done here: when the leader cannot be reached (or answers read-only), every member
is asked for its state; if one is writable it is the leader; if none is, and a majority of the
set answers, the member with the largest vclock (it holds every write a quorum acknowledged)
is promoted (``box.cfg{read_only=false}``), unless a member follows a live leader that is not
among the addresses given (promoting it would make two leaders). Every call has a timeout;
every failure becomes one :class:`StorageError` line, with no password in it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
from collections.abc import Callable
from typing import Any

import tarantool
from tarantool.error import DatabaseError, Error, NetworkError

from ...common.log import event
from ..errors import StorageError
from .auth import PASSWORD_ENV, SECRET_FILE, Credentials
from .instance import parse_address, parse_addresses

log = logging.getLogger("zeroos.zdb")

ER_READONLY = 7
# refusals of who we are: access denied, no such user, wrong password
ER_REFUSED = {42, 45, 47}
_LUA_WHERE = re.compile(r"^\S+\.lua:\d+: ")
# the leader last announced for each replica set, in this process: another connection to the
# same leader (`zos zdb migrate` opens several engines) is not news; a new leader is
_announced: dict[str, str] = {}
_announced_lock = threading.Lock()


class Cluster:
    """The members of one replica set, and a connection to its leader."""

    def __init__(
        self,
        addresses: str | list[tuple[str, int]],
        *,
        timeout: float = 10.0,
        connect_timeout: float = 1.0,
        credentials: Credentials | None = None,
    ) -> None:
        self.addresses = parse_addresses(addresses) if isinstance(addresses, str) else addresses
        self.credentials = credentials
        self._refused = ""  # why the last member that refused us did (no password in it)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._conn: tarantool.Connection | None = None
        self.leader: str = ""
        self.failovers = 0
        self.on_failover: Callable[[], None] | None = None
        self._lost = False  # a failover=False call dropped the connection
        self._lock = threading.Lock()

    @property
    def names(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.addresses)

    def _refusal(self, address: str, exc: BaseException) -> bool:
        """Remember (and tell) whether a member refused our user or password."""
        cause = exc.args[0] if isinstance(exc, NetworkError) and exc.args else exc
        if (
            not isinstance(cause, DatabaseError)
            or not cause.args
            or cause.args[0] not in ER_REFUSED
        ):
            return False
        message = cause.args[1] if len(cause.args) > 1 else ""
        if isinstance(message, bytes):
            message = message.decode(errors="replace")
        self._refused = f"{address} refused zero-db: {message}"
        return True

    def _connect(self, host: str, port: int, timeout: float) -> tarantool.Connection | None:
        creds = self.credentials
        try:
            return tarantool.Connection(
                host,
                port,
                user=creds.user if creds is not None else None,
                password=creds.password if creds is not None else None,
                encoding=None,
                socket_timeout=timeout,
                connection_timeout=self.connect_timeout,
                reconnect_max_attempts=0,
                fetch_schema=False,
            )
        except (Error, OSError) as exc:
            self._refusal(f"{host}:{port}", exc)
            return None

    def _status(
        self, address: str, conn: tarantool.Connection
    ) -> tuple[bool, int, list[str]] | None:
        try:
            ro, vclock, _id, _status, *rest = conn.call("zdb_status").data[0]
        except (Error, OSError, ValueError, TypeError) as exc:
            self._refusal(address, exc)
            return None
        follows = [_text(f) for f in rest[0]] if rest else []
        return bool(ro), sum(int(v) for v in (vclock or {}).values()), follows

    def _outside(self, follows: list[str]) -> str | None:
        """A leader a member follows that is not among our addresses, if any."""
        ours = {_resolve(h, p) for h, p in self.addresses}
        for address in follows:
            try:
                host, port = parse_address(address)
            except StorageError:
                continue  # not an address we can compare: not an outside leader either
            if _resolve(host, port) not in ours:
                return address
        return None

    def _find_leader(self) -> None:
        probes: list[tuple[str, tarantool.Connection, bool, int, list[str]]] = []
        self._refused = ""
        try:
            for host, port in self.addresses:
                conn = self._connect(host, port, self.timeout)
                if conn is None:
                    continue
                status = self._status(f"{host}:{port}", conn)
                if status is None:
                    conn.close()
                    continue
                probes.append((f"{host}:{port}", conn, *status))
            if not probes and self._refused:
                raise StorageError(
                    f"tarantool: {self._refused} (give zero-db the instance's password: "
                    f"--tarantool-password-file DIR/{SECRET_FILE} or {PASSWORD_ENV})"
                )
            writable = [p for p in probes if not p[2]]
            if not writable:
                for p in probes:
                    leader = self._outside(p[4])
                    if leader is not None:
                        # its leader is alive: promoting it would make a second one
                        raise StorageError(
                            f"tarantool: {p[0]} is a read-only replica of {leader}, which is "
                            f"not among {self.names}: name the leader in --tarantool"
                        )
                need = len(self.addresses) // 2 + 1
                if len(probes) < need:
                    raise StorageError(
                        f"tarantool: no leader and no quorum to elect one "
                        f"({len(probes)} of {len(self.addresses)} members of {self.names} answer)"
                    )
                best = max(probes, key=lambda p: p[3])
                log.warning("event=tarantool_promote member=%s vclock=%d", best[0], best[3])
                try:
                    best[1].call("zdb_promote")
                except (Error, OSError) as exc:
                    raise StorageError(f"tarantool: cannot promote {best[0]}: {exc}") from exc
                writable = [best]
            elif len(writable) > 1:
                # two writable members (an old leader restarted by hand): the freshest one leads
                writable.sort(key=lambda p: -p[3])
            chosen = writable[0]
            for p in probes:
                if p is not chosen and p[2]:  # read-only members replicate from the leader
                    try:
                        p[1].call("zdb_follow", chosen[0])
                    except (Error, OSError) as exc:
                        log.warning("event=tarantool_follow_failed member=%s error=%r", p[0], exc)
            self._conn, self.leader = chosen[1], chosen[0]
            with _announced_lock:
                known = _announced.get(self.names) == chosen[0]
                _announced[self.names] = chosen[0]
            level = logging.DEBUG if known else logging.INFO
            event(log, "tarantool_leader", level=level, member=chosen[0])
        finally:
            for p in probes:
                if p[1] is not self._conn:
                    p[1].close()

    def _leader(self) -> tarantool.Connection:
        if self._conn is None:
            self._find_leader()
            if self._conn is None:
                raise StorageError(f"tarantool: no leader among {self.names}")
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Error, OSError):
                self._conn.close()
            self._conn = None

    def call(self, func: str, *args: Any, failover: bool = True) -> list[Any]:
        """Call a function of init.lua on the leader (failing over once when it is gone).

        ``failover=False``: a failure is only reported (for calls from another thread than
        the one serving, which alone may reload what a failover makes stale: its next call
        does, when this one lost the connection).
        """
        with self._lock:
            if not failover and self._conn is None:
                raise StorageError(f"tarantool: no leader connected among {self.names}")
            if failover and self._lost:
                self._lost = False
                self._failed_over("the connection was lost by another call")
            for attempt in (0, 1):
                conn = self._leader()
                try:
                    return list(conn.call(func, list(args)).data)
                except NetworkError as exc:
                    reason = f"{self.leader} unreachable ({exc})"
                except DatabaseError as exc:
                    code = exc.args[0] if exc.args else 0
                    message = exc.args[1] if len(exc.args) > 1 else str(exc)
                    if isinstance(message, bytes):
                        message = message.decode(errors="replace")
                    if code != ER_READONLY:
                        message = _LUA_WHERE.sub("", message)  # "init.lua:104: " prefixes
                        raise StorageError(f"tarantool: {message}") from exc
                    if not failover:
                        raise StorageError(f"tarantool: {self.leader} is read-only") from exc
                    reason = f"{self.leader} is a read-only replica"
                except (Error, OSError) as exc:
                    reason = f"{self.leader}: {exc}"
                # a late reply would be read as the next call's: the connection goes
                self._drop()
                if not failover:
                    self._lost = True
                    raise StorageError(f"tarantool: {reason}")
                self._failed_over(reason)
                if attempt:
                    raise StorageError(f"tarantool: {reason}")
            raise StorageError("tarantool: unreachable")  # not reached

    def _failed_over(self, reason: str) -> None:
        self.failovers += 1
        log.warning("event=tarantool_failover reason=%r", reason)
        if self.on_failover is not None:
            self.on_failover()

    def close(self) -> None:
        self._drop()


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _resolve(host: str, port: int) -> tuple[str, int]:
    # "localhost:3301" and "127.0.0.1:3301" name one member
    try:
        return socket.gethostbyname(host), port
    except OSError:
        return host, port


__all__ = ["Cluster"]
