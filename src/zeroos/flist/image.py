"""Turning a container image into an flist without a Docker engine.

Reads an OCI image layout (a directory or a tar of one: ``oci-layout``, ``index.json``,
``blobs/sha256/...``) or a ``docker save`` tarball (``manifest.json``). Layers are applied in
order with their OCI whiteouts; the image config's entrypoint, cmd, env, working dir, user and
exposed ports become tags. Blob digests are checked; layers are untrusted archives (see
create.py: paths, links, devices and size are all checked).
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from pathlib import Path
from typing import IO, Any, Unpack

from .create import DEFAULT_MAX_BYTES, BuildOptions, CreateReport, fill, make, scan_tar
from .errors import FlistError
from .tree import TreeBuilder
from .upload import Uploader

_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
MAX_JSON = 16 * 1024 * 1024  # manifests and configs are small: refuse huge ones


class _Source:
    """Files of an image archive or layout directory, read by their path inside it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, tarfile.TarInfo] = {}
        if path.is_dir():
            return
        try:
            self._tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by close()
            for member in self._tar.getmembers():
                self._members[member.name.removeprefix("./")] = member
        except (tarfile.TarError, OSError) as exc:
            raise FlistError(f"{path}: not an image archive: {exc}") from exc

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()

    def exists(self, name: str) -> bool:
        if self._tar is None:
            return (self.path / name).is_file()
        return name in self._members

    def open(self, name: str) -> IO[bytes]:
        if ".." in name.split("/") or name.startswith("/"):
            raise FlistError(f"{self.path}: the image names {name!r}, outside the archive")
        if self._tar is None:
            try:
                return (self.path / name).open("rb")
            except OSError as exc:
                raise FlistError(f"{self.path}: missing {name}: {exc.strerror}") from exc
        member = self._members.get(name)
        fileobj = self._tar.extractfile(member) if member is not None else None
        if fileobj is None:
            raise FlistError(f"{self.path}: the image has no file {name!r}")
        return fileobj

    def json(self, name: str, digest: str | None = None) -> Any:
        with self.open(name) as f:
            data = f.read(MAX_JSON + 1)
        if len(data) > MAX_JSON:
            raise FlistError(f"{self.path}: {name} is larger than {MAX_JSON} bytes")
        if digest is not None:
            _check_digest(data, digest, name)
        try:
            return json.loads(data)
        except ValueError as exc:
            raise FlistError(f"{self.path}: {name} is not JSON: {exc}") from exc


def _check_digest(data: bytes, digest: str, name: str) -> None:
    match = _DIGEST.match(digest)
    if match is None:
        raise FlistError(f"{name}: unsupported digest {digest!r} (sha256 only)")
    if hashlib.sha256(data).hexdigest() != match.group(1):
        raise FlistError(f"{name}: content does not match its digest {digest}")


class _Hashing:
    """A reader that hashes what passes through, to check a layer blob's digest at its end."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hash.update(data)
        return data

    def drain(self) -> str:
        while self.read(1 << 20):
            pass
        return self.hash.hexdigest()


def _blob(digest: str) -> str:
    match = _DIGEST.match(digest)
    if match is None:
        raise FlistError(f"unsupported digest {digest!r} (sha256 only)")
    return f"blobs/sha256/{match.group(1)}"


def _manifest(src: _Source) -> tuple[Any, list[tuple[str, str | None]]]:
    """The image config and its layers as (path in archive, expected digest or None)."""
    if src.exists("manifest.json"):  # docker save
        manifests = src.json("manifest.json")
        if not isinstance(manifests, list) or not manifests:
            raise FlistError(f"{src.path}: manifest.json lists no image")
        first = manifests[0]
        config = src.json(str(first["Config"]))
        return config, [(str(layer), None) for layer in first.get("Layers", [])]
    if not src.exists("index.json"):
        raise FlistError(f"{src.path}: neither a docker save tarball nor an OCI image layout")
    node = src.json("index.json")
    for _ in range(8):  # an index may point at another index (multi-platform images)
        if node.get("mediaType") not in _INDEX_TYPES and "manifests" not in node:
            break
        choices = node.get("manifests") or []
        if not choices:
            raise FlistError(f"{src.path}: the image index lists no manifest")
        chosen = next(
            (
                m
                for m in choices
                if m.get("platform", {}).get("os", "linux") == "linux"
                and m.get("platform", {}).get("architecture", "amd64") == "amd64"
            ),
            choices[0],
        )
        node = src.json(_blob(chosen["digest"]), chosen["digest"])
    config = src.json(_blob(node["config"]["digest"]), node["config"]["digest"])
    layers: list[tuple[str, str | None]] = [
        (_blob(layer["digest"]), str(layer["digest"])) for layer in node.get("layers", [])
    ]
    return config, layers


def image_tags(config: Any) -> dict[str, str]:
    """The tags an image config gives: entrypoint, cmd, env, workdir, user, ports."""
    cfg = config.get("config") or {}
    tags = {
        "entrypoint": json.dumps(cfg.get("Entrypoint") or []),
        "cmd": json.dumps(cfg.get("Cmd") or []),
        "env": json.dumps(cfg.get("Env") or []),
        "workdir": str(cfg.get("WorkingDir") or "/"),
        "ports": json.dumps(sorted((cfg.get("ExposedPorts") or {}).keys())),
    }
    if cfg.get("User"):
        tags["user"] = str(cfg["User"])
    return tags


def import_image(
    archive: str | Path, out: str | Path, store_urls: list[str], **options: Unpack[BuildOptions]
) -> CreateReport:
    """Make ``out`` from an OCI layout or ``docker save`` archive; blocks to ``store_urls``.

    The image config's tags are set on the flist (over any ``tags`` given); ``max_bytes``
    bounds all layers together."""
    archive, out = Path(archive), Path(out)
    if not archive.exists():
        raise FlistError(f"{archive}: no such image archive or layout")
    src = _Source(archive)

    def from_layers(builder: TreeBuilder, uploader: Uploader, report: CreateReport) -> None:
        budget = options.get("max_bytes", DEFAULT_MAX_BYTES)
        for name, digest in layers:
            builder.start_layer()
            with src.open(name) as raw:
                hashing = _Hashing(raw)
                try:
                    tar = tarfile.open(fileobj=hashing, mode="r|*")  # type: ignore[call-overload]  # noqa: SIM115
                except tarfile.TarError as exc:
                    raise FlistError(f"{archive}: layer {name} is not a tar: {exc}") from exc
                before = report.total_bytes
                with tar:
                    allow_devices = options.get("allow_devices", False)
                    entries = scan_tar(tar, allow_devices=allow_devices, max_bytes=budget)
                    fill(builder, uploader, entries, report, whiteouts=True)
                budget -= report.total_bytes - before
                if digest is not None and f"sha256:{hashing.drain()}" != digest:
                    raise FlistError(f"{archive}: layer {name} does not match its digest")

    try:
        config, layers = _manifest(src)
        tags = {**(options.get("tags") or {}), **image_tags(config)}
        return make(out, store_urls, from_layers, {**options, "tags": tags})
    finally:
        src.close()
