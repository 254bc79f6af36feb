"""The client side of a many-flists mount service (many.py): where its socket is, and the
requests it answers (add, remove, list, stop)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from .system import MountError

__all__ = ["REQUEST_BYTES", "ManyClient", "control_address"]

REQUEST_BYTES = 64 * 1024


def control_address(mountpoint: Path) -> str:
    """The abstract unix socket of the service mounted at ``mountpoint`` (one per mountpoint)."""
    digest = hashlib.sha256(os.fsencode(mountpoint.resolve())).hexdigest()[:32]
    return f"\0zos-flist-many-{digest}"


class ManyClient:
    """Asks the service mounted at a mountpoint to add, remove and list flists (blocking)."""

    def __init__(self, mountpoint: Path, timeout: float = 30.0) -> None:
        self.mountpoint = mountpoint
        self.address = control_address(mountpoint)
        self.timeout = timeout

    def call(self, request: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """One request's answer; MountError when refused or when nothing answers."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(timeout or self.timeout)
                sock.connect(self.address)
                sock.sendall(json.dumps(request).encode() + b"\n")
                data = b""
                while not data.endswith(b"\n"):
                    chunk = sock.recv(REQUEST_BYTES)
                    if not chunk:
                        break
                    data += chunk
        except OSError as exc:
            raise MountError(
                f"the flist mount service of {self.mountpoint} does not answer: {exc}"
            ) from exc
        try:
            reply = json.loads(data)
        except ValueError as exc:
            raise MountError(
                f"the flist mount service of {self.mountpoint} said {data[:80]!r}"
            ) from exc
        if not reply.get("ok"):
            raise MountError(str(reply.get("error") or "refused"))
        return dict(reply)

    def add(self, name: str, flist: Path) -> Path:
        """Serve ``flist`` (if not yet) as a folder; that folder."""
        self.call({"op": "add", "name": name, "flist": str(flist.resolve())})
        return self.mountpoint / name

    def remove(self, name: str) -> bool:
        return bool(self.call({"op": "remove", "name": name})["removed"])

    def names(self, timeout: float | None = None) -> tuple[int, list[str]]:
        """The service's pid and the folders it serves."""
        reply = self.call({"op": "list"}, timeout)
        return int(reply["pid"]), [str(n) for n in reply["names"]]

    def hold(self) -> socket.socket:
        """A connection the service keeps while it is open: the service knows a node runs
        (when all are closed, and no root stands on it, it stops by itself)."""
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            sock.settimeout(self.timeout)
            sock.connect(self.address)
            sock.sendall(b'{"op": "hold"}\n')
            if not sock.recv(REQUEST_BYTES).startswith(b'{"ok": true'):
                raise OSError("refused")
        except OSError as exc:
            sock.close()
            raise MountError(
                f"cannot hold the flist mount service of {self.mountpoint}: {exc}"
            ) from exc
        return sock

    def stop(self) -> None:
        self.call({"op": "stop"})
