"""zero-hub over HTTP, for the command line and other parts: 0-hub's envelope unwrapped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx

from ..common.http import HttpApi, JsonClient, bearer_header, by_status
from .errors import (
    BadRequest,
    Conflict,
    Forbidden,
    HubError,
    LengthRequired,
    NotFound,
    StoreError,
    TooLarge,
    Unauthorized,
)

API = HttpApi(
    "zero-hub",
    HubError,
    by_status(
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        LengthRequired,
        TooLarge,
        StoreError,
    ),
    envelope="payload",
)


Sent = Callable[[int], None]


def _q(segment: str) -> str:
    """One path segment, quoted: a name never climbs out of its place in the route."""
    return quote(segment, safe="")


class _Counting:
    """A file read by httpx while uploading, telling ``sent`` how many bytes each read took."""

    def __init__(self, stream: BinaryIO, sent: Sent) -> None:
        self._stream = stream
        self._sent = sent

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._sent(len(chunk))
        return chunk

    def fileno(self) -> int:  # httpx sizes the body from it: a Content-Length, not chunks
        return self._stream.fileno()


class HubClient(JsonClient):
    """A zero-hub at ``url``; ``token`` (a zero-id JWT) for the caller's repository,
    ``active_user`` to act in an organisation's. Every call has ``timeout``; uploads and
    downloads wait ``transfer_timeout`` between two reads."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        active_user: str | None = None,
        timeout: float = 30.0,
        transfer_timeout: float = 600.0,
    ) -> None:
        headers = bearer_header(token)
        if active_user:
            headers["active-user"] = active_user
        super().__init__(url, API, headers=headers, timeout=timeout)
        self._transfer = httpx.Timeout(timeout, read=transfer_timeout, write=transfer_timeout)

    # -- public ----------------------------------------------------------------------------
    def flists(self, search: str | None = None) -> list[str]:
        return list(self.call("GET", "/api/flist", params={"q": search} if search else None))

    def repositories(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/api/repositories"))

    def repository(self, user: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/api/flist/{_q(user)}"))

    def contents(self, user: str, name: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/flist/{_q(user)}/{_q(name)}"))

    def light(self, user: str, name: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/flist/{_q(user)}/{_q(name)}/light"))

    def download(self, user: str, name: str, dest: str | Path) -> int:
        """Write ``user/name`` to ``dest``; how many bytes."""
        return self.save(f"/{_q(user)}/{_q(name)}", dest, timeout=self._transfer)

    # -- the caller's repository -----------------------------------------------------------
    def me(self) -> dict[str, Any]:
        return dict(self.call("GET", "/api/flist/me"))

    def _send(self, route: str, path: str | Path, sent: Sent | None) -> dict[str, Any]:
        path = Path(path)
        try:
            stream = path.open("rb")
        except OSError as exc:
            raise HubError(f"cannot read {path}: {exc.strerror or exc}") from exc
        with stream:
            body = _Counting(stream, sent) if sent is not None else stream
            files = {"file": (path.name, body, "application/octet-stream")}
            return dict(self.call("POST", route, files=files, timeout=self._transfer))

    def upload(self, archive: str | Path, sent: Sent | None = None) -> dict[str, Any]:
        """Upload a .tar.gz; the hub makes ``name.fl`` of it. ``sent`` is told of every chunk."""
        return self._send("/api/flist/me/upload", archive, sent)

    def upload_flist(self, flist: str | Path, sent: Sent | None = None) -> dict[str, Any]:
        """Upload an .fl whose blocks the hub holds already."""
        return self._send("/api/flist/me/upload-flist", flist, sent)

    def upload_image(self, archive: str | Path, sent: Sent | None = None) -> dict[str, Any]:
        """Upload an OCI image archive or ``docker save`` tarball."""
        return self._send("/api/flist/me/image", archive, sent)

    def progress(self, job: str) -> dict[str, Any]:
        """Where the upload sent with ``?progress=job`` stands."""
        return dict(self.call("GET", f"/api/flist/me/progress/{_q(job)}"))

    def tag(self, tag: str, name: str, repo: str, source: str) -> dict[str, str]:
        return dict(
            self.call("GET", f"/api/flist/me/{_q(tag)}/{_q(name)}/tag/{_q(repo)}/{_q(source)}")
        )

    def untag(self, tag: str, name: str) -> None:
        self.call("DELETE", f"/api/flist/me/{_q(tag)}/{_q(name)}/tag")

    def tags(self, user: str) -> dict[str, dict[str, str]]:
        return dict(self.call("GET", f"/api/tags/{_q(user)}"))

    def merge(self, target: str, sources: list[str]) -> dict[str, Any]:
        return dict(self.call("POST", f"/api/flist/me/merge/{_q(target)}", json=sources))

    def link(self, source: str, linkname: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/flist/me/{_q(source)}/link/{_q(linkname)}"))

    def rename(self, source: str, dest: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/flist/me/{_q(source)}/rename/{_q(dest)}"))

    def promote(self, repo: str, name: str, localname: str) -> dict[str, Any]:
        return dict(
            self.call("GET", f"/api/flist/me/promote/{_q(repo)}/{_q(name)}/{_q(localname)}")
        )

    def delete(self, name: str) -> None:
        self.call("DELETE", f"/api/flist/me/{_q(name)}")

    def set_readme(self, name: str, text: str) -> None:
        headers = {"Content-Type": "text/markdown"}
        self.call(
            "POST", f"/api/flist/me/{_q(name)}/readme", content=text.encode(), headers=headers
        )
