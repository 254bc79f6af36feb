"""Connections to a Tarantool replica set: find the leader, promote one when it died.

Tarantool 2.6.0 (Debian 12) has synchronous replication (``replication_synchro_quorum``,
``is_sync`` spaces) but no built-in leader election (``election_mode`` came with 2.6.1), so
failover is done here: when the leader cannot be reached (or answers read-only), every member
is asked for its state; if one is writable it is the leader; if none is, and a majority of the
set answers, the member with the largest vclock (it holds every write a quorum acknowledged)
is promoted (``box.cfg{read_only=false}`` + ``box.ctl.clear_synchro_queue()``). Every call has
a timeout; every failure becomes one :class:`StorageError` line.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

import tarantool
from tarantool.error import DatabaseError, Error, NetworkError

from ..errors import StorageError
from .instance import parse_addresses

log = logging.getLogger("zeroos.zdb")

ER_READONLY = 7
_LUA_WHERE = re.compile(r"^\S+\.lua:\d+: ")


class Cluster:
    """The members of one replica set, and a connection to its leader."""

    def __init__(
        self,
        addresses: str | list[tuple[str, int]],
        *,
        timeout: float = 10.0,
        connect_timeout: float = 1.0,
    ) -> None:
        self.addresses = parse_addresses(addresses) if isinstance(addresses, str) else addresses
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._conn: tarantool.Connection | None = None
        self.leader: str = ""
        self.failovers = 0
        self.on_failover: Callable[[], None] | None = None
        self._lock = threading.Lock()

    @property
    def names(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.addresses)

    def _connect(self, host: str, port: int, timeout: float) -> tarantool.Connection | None:
        try:
            return tarantool.Connection(
                host,
                port,
                encoding=None,
                socket_timeout=timeout,
                connection_timeout=self.connect_timeout,
                reconnect_max_attempts=0,
                fetch_schema=False,
            )
        except (Error, OSError):
            return None

    def _status(self, conn: tarantool.Connection) -> tuple[bool, int] | None:
        try:
            ro, vclock, _id, _status = conn.call("zdb_status").data[0]
        except (Error, OSError, ValueError, TypeError):
            return None
        return bool(ro), sum(int(v) for v in (vclock or {}).values())

    def _find_leader(self) -> None:
        probes: list[tuple[str, tarantool.Connection, bool, int]] = []
        try:
            for host, port in self.addresses:
                conn = self._connect(host, port, self.timeout)
                if conn is None:
                    continue
                status = self._status(conn)
                if status is None:
                    conn.close()
                    continue
                probes.append((f"{host}:{port}", conn, *status))
            writable = [p for p in probes if not p[2]]
            if not writable:
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
            log.info("event=tarantool_leader member=%s", chosen[0])
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

    def call(self, func: str, *args: Any) -> list[Any]:
        """Call a function of init.lua on the leader (failing over once when it is gone)."""
        with self._lock:
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
                    if code == ER_READONLY:
                        reason = f"{self.leader} is a read-only replica"
                    else:
                        message = _LUA_WHERE.sub("", message)  # "init.lua:104: " prefixes
                        raise StorageError(f"tarantool: {message}") from exc
                except (Error, OSError) as exc:
                    reason = f"{self.leader}: {exc}"
                self._drop()
                self.failovers += 1
                log.warning("event=tarantool_failover reason=%r", reason)
                if self.on_failover is not None:
                    self.on_failover()
                if attempt:
                    raise StorageError(f"tarantool: {reason}")
            raise StorageError("tarantool: unreachable")  # not reached

    def close(self) -> None:
        self._drop()


__all__ = ["Cluster"]
