"""What every part's tests (and benchmarks) stand on: free ports, server processes, conformance.

- :func:`free_port`: a loopback port nobody listens on (for servers that cannot pick their own);
- :class:`ZdbProcess`: a ``zos zdb serve`` child on the shared harness (its ready file);
- :mod:`zeroos.testing.fixtures`: pytest fixtures built on them (a plugin module a conftest
  imports with ``pytest_plugins``);
- conformance checks written as functions run against every implementation of an interface
  (:func:`zeroos.testing.engine.check_engine` for zero-db's engines).
"""

from __future__ import annotations

import socket

from .servers import ZdbProcess


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (another process may take it: use it at once)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


__all__ = ["ZdbProcess", "free_port"]
