"""redis-py under both zero-db drivers: the pool's arguments, the connections' session, and the
one place where redis-py's errors become zero-db's."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import redis.exceptions
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..errors import (
    CLOSING_LINES,
    ZdbConnectionError,
    ZdbError,
    ZdbTimeoutError,
    error_from_reply,
)
from .steps import Address, Login, Session

_POOL_EXHAUSTED: Final = "No connection available."  # redis-py's blocking pool gave up


class SessionConnection:
    """What the clients add to redis-py's connections: the login their socket is in."""

    zdb_login: Login | None = None  # None: not known to be in any (reconnect, failed select)


@dataclass(frozen=True, slots=True)
class Driver:
    """What a driver gives redis-py: its pool class, connection classes and connect hook."""

    pool: Callable[..., Any]
    tcp: type[SessionConnection]
    unix: type[SessionConnection]
    connect_hook: Callable[[Session, Any], Any]  # run on every new socket, before its first command


def open_pool(
    driver: Driver, address: Address, session: Session, timeout: float, max_connections: int
) -> Any:
    """A driver's pool of connections to ``address`` (none is opened before the first command)."""
    kwargs = pool_kwargs(address, timeout, max_connections)
    kwargs["connection_class"] = driver.unix if address.unix_socket else driver.tcp
    kwargs["redis_connect_func"] = functools.partial(driver.connect_hook, session)
    return driver.pool(**kwargs)


def pool_kwargs(address: Address, timeout: float, max_connections: int) -> dict[str, Any]:
    """redis-py blocking pool arguments shared by both clients (connection class aside).

    The pool holds at most ``max_connections``; a caller finding them all busy waits for
    one up to ``timeout`` seconds.
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, not {max_connections!r}")
    kwargs: dict[str, Any] = {
        "max_connections": max_connections,
        "timeout": timeout,  # waiting for a free pooled connection
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),  # never resend a command (an insert must not repeat)
        "protocol": 2,
        "driver_info": None,  # no CLIENT SETINFO: zero-db does not know it
    }
    if address.unix_socket:
        kwargs["path"] = address.unix_socket
    else:
        kwargs.update(host=address.host, port=address.port, socket_keepalive=True)
    return kwargs


def closes_connection(exc: redis.exceptions.RedisError) -> bool:
    """Whether the server closes the connection after this error (so it must not be reused)."""
    if not isinstance(exc, redis.exceptions.ResponseError):
        return False
    line = str(exc)
    return line in CLOSING_LINES or line.startswith("Protocol error")


def translate_error(exc: redis.exceptions.RedisError, address: Address, timeout: float) -> ZdbError:
    """The zero-db exception for a redis-py error: the one place errors are translated."""
    if isinstance(exc, redis.exceptions.TimeoutError):
        return ZdbTimeoutError(f"zero-db at {address} did not answer within {timeout:g}s ({exc})")
    if isinstance(exc, redis.exceptions.ResponseError):
        return error_from_reply(str(exc))
    if isinstance(exc, redis.exceptions.MaxConnectionsError) or str(exc) == _POOL_EXHAUSTED:
        return ZdbTimeoutError(
            f"no free connection to zero-db at {address} within {timeout:g}s: "
            "every pooled connection is busy (raise max_connections?)"
        )
    if isinstance(exc, redis.exceptions.ConnectionError):
        reason = str(exc).rstrip(".") or type(exc).__name__
        return ZdbConnectionError(f"cannot reach zero-db at {address}: {reason}; is it running?")
    return ZdbError(f"zero-db at {address}: {exc}")


__all__ = [
    "Driver",
    "SessionConnection",
    "closes_connection",
    "open_pool",
    "pool_kwargs",
    "translate_error",
]
