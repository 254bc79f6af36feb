"""Network addresses as every part writes them: ``HOST:PORT``, ``[IPv6]:PORT``, unix sockets.

One parser, so that ``zos zdb verify --server``, a zero-stor shard, a Tarantool member and a
zero-db's ready file all read an address the same way:

- ``host:port``, ``[::1]:port``; ``:port`` or ``port`` alone mean ``default_host:port``;
- ``host`` alone means ``host:default_port`` when the caller has a default port;
- ``unix:/path`` (or a path starting with ``/`` or ``.``) is a unix socket, where the caller
  accepts one (``unix=True``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

from .errors import ZosError

DEFAULT_HOST: Final = "127.0.0.1"
_HOSTNAME: Final = re.compile(r"^[A-Za-z0-9_.-]+$")


class AddressError(ZosError, ValueError):
    """Text that is not an address (a ValueError too, so pydantic validators report it)."""


@dataclass(frozen=True, slots=True)
class Address:
    """A TCP ``host``/``port``, or a unix socket ``path`` (then host is "" and port 0)."""

    host: str = DEFAULT_HOST
    port: int = 0
    path: str | None = None

    @property
    def is_unix(self) -> bool:
        """Whether this is a unix socket."""
        return self.path is not None

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        return format_hostport(self.host, self.port)


def format_hostport(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets (``[::1]:9900``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _error(text: str) -> AddressError:
    return AddressError(f"{text!r} is not host:port (e.g. 127.0.0.1:9900)")


def _port(text: str, whole: str, min_port: int) -> int:
    if not text.isdigit() or not min_port <= int(text) <= 65535:
        raise _error(whole)
    return int(text)


def _host(text: str, whole: str, *, ipv6: bool = False) -> str:
    if not ipv6 and _HOSTNAME.match(text):
        return text
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])  # a zone (%eth0) is the kernel's to check
    except ValueError:
        raise _error(whole) from None
    return text


def parse_address(
    text: str,
    *,
    default_host: str = DEFAULT_HOST,
    default_port: int | None = None,
    unix: bool = False,
    min_port: int = 1,
) -> Address:
    """The address ``text`` names; :class:`AddressError` when it names none.

    ``min_port=0`` accepts port 0 (a server asked to pick a free port).
    """
    raw = text.strip()
    if unix and raw.startswith("unix:") and len(raw) > 5:
        return Address(host="", port=0, path=raw[5:])
    if unix and raw.startswith(("/", ".")):
        return Address(host="", port=0, path=raw)
    if raw.startswith("["):
        inner, bracket, rest = raw[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise _error(text)
        host = _host(inner, text, ipv6=True)
        if not rest:
            if default_port is None:
                raise _error(text)
            return Address(host, default_port)
        return Address(host, _port(rest[1:], text, min_port))
    if raw.count(":") > 1:  # a bare IPv6 address: no room for a port
        if default_port is None:
            raise _error(text)
        return Address(_host(raw, text, ipv6=True), default_port)
    host, colon, port = raw.rpartition(":")
    if not colon:
        if raw.isdigit():
            return Address(default_host, _port(raw, text, min_port))
        if default_port is None or not raw:
            raise _error(text)
        return Address(_host(raw, text), default_port)
    return Address(_host(host, text) if host else default_host, _port(port, text, min_port))


def parse_addresses(
    text: str, *, default_host: str = DEFAULT_HOST, default_port: int | None = None
) -> list[Address]:
    """Comma-separated TCP addresses (``a:1,b:2``); empty items are skipped."""
    return [
        parse_address(item, default_host=default_host, default_port=default_port)
        for item in text.split(",")
        if item.strip()
    ]


__all__ = [
    "DEFAULT_HOST",
    "Address",
    "AddressError",
    "format_hostport",
    "parse_address",
    "parse_addresses",
]
