"""Layers: merge with OCI whiteouts, and images (OCI layout, docker save) built here."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from zeroos.flist.create import create
from zeroos.flist.errors import FlistError
from zeroos.flist.extract import extract
from zeroos.flist.format import Flist
from zeroos.flist.image import import_image
from zeroos.flist.merge import merge


def _layer(files: dict[str, bytes | str | None], mtime: int = 1_700_000_000) -> bytes:
    """A layer tar: bytes are files, str symlinks, None directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            if body is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(body, str):
                info.type, info.linkname = tarfile.SYMTYPE, body
                tar.addfile(info)
            else:
                info.size, info.mode = len(body), 0o644
                tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


LOWER = {
    "etc/": None,
    "etc/os-release": b"lower\n",
    "etc/removed": b"gone in upper\n",
    "var/": None,
    "var/cache/": None,
    "var/cache/a": b"a",
    "var/cache/b": b"b",
    "bin/": None,
    "bin/sh": b"#!shell",
}
UPPER = {
    "etc/os-release": b"upper wins\n",
    "etc/.wh.removed": b"",
    "var/cache/": None,
    "var/cache/.wh..wh..opq": b"",
    "var/cache/fresh": b"new in upper",
    "bin/sh-link": "sh",
}


def _expect_merged(root: Path) -> None:
    assert (root / "etc" / "os-release").read_bytes() == b"upper wins\n"
    assert not (root / "etc" / "removed").exists()
    assert not (root / "etc" / ".wh.removed").exists()
    assert sorted(p.name for p in (root / "var" / "cache").iterdir()) == ["fresh"]
    assert (root / "bin" / "sh").read_bytes() == b"#!shell"
    assert (root / "bin" / "sh-link").readlink() == Path("sh")


def test_merge_layers_with_whiteouts(tmp_path: Path) -> None:
    store = f"dir://{tmp_path / 'blocks'}"
    flists = []
    for name, files in (("lower", LOWER), ("upper", UPPER)):
        archive = tmp_path / f"{name}.tar"
        archive.write_bytes(_layer(files))
        flists.append(tmp_path / f"{name}.fl")
        create(archive, flists[-1], [store], tags={"layer": name})
    count = merge(flists, tmp_path / "merged.fl")
    with Flist.open(tmp_path / "merged.fl") as fl:
        assert count == fl.count()
        assert fl.tag("layer") == "upper"
        assert [r.url for r in fl.routes()] == [store]
    extract(tmp_path / "merged.fl", tmp_path / "out")
    _expect_merged(tmp_path / "out")


def test_merge_refuses_mixed_block_sizes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    store = f"dir://{tmp_path / 'blocks'}"
    create(tmp_path / "a", tmp_path / "a.fl", [store], block_size=65536)
    create(tmp_path / "a", tmp_path / "b.fl", [store], block_size=131072)
    with pytest.raises(FlistError, match="block size 131072 differs"):
        merge([tmp_path / "a.fl", tmp_path / "b.fl"], tmp_path / "m.fl")


CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "config": {
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo hello"],
        "Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"],
        "WorkingDir": "/srv",
        "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
        "User": "1000:1000",
    },
    "rootfs": {"type": "layers", "diff_ids": []},
}


def _docker_save(path: Path, layers: list[bytes]) -> None:
    config = json.dumps(CONFIG).encode()
    members = {"cfg.json": config}
    names = []
    for i, layer in enumerate(layers):
        names.append(f"layer{i}/layer.tar")
        members[names[-1]] = layer
    manifest = [{"Config": "cfg.json", "RepoTags": ["test:latest"], "Layers": names}]
    members["manifest.json"] = json.dumps(manifest).encode()
    _write_tar(path, members)


def _blob(blobs: dict[str, bytes], data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    blobs[f"blobs/sha256/{digest}"] = data
    return f"sha256:{digest}"


def _oci_layout(layers: list[bytes]) -> dict[str, bytes]:
    blobs: dict[str, bytes] = {}
    layer_descs = []
    for layer in layers:
        zipped = gzip.compress(layer)
        layer_descs.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _blob(blobs, zipped),
                "size": len(zipped),
            }
        )
    config = json.dumps(CONFIG).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _blob(blobs, config),
            "size": len(config),
        },
        "layers": layer_descs,
    }
    manifest_bytes = json.dumps(manifest).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _blob(blobs, manifest_bytes),
                "size": len(manifest_bytes),
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    return {
        "oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
        "index.json": json.dumps(index).encode(),
        **blobs,
    }


def _write_tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _check_image(flist: Path, tmp_path: Path) -> None:
    with Flist.open(flist) as fl:
        tags = fl.tags()
    assert json.loads(tags["entrypoint"]) == ["/bin/sh", "-c"]
    assert json.loads(tags["cmd"]) == ["echo hello"]
    assert json.loads(tags["env"]) == ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"]
    assert tags["workdir"] == "/srv"
    assert json.loads(tags["ports"]) == ["53/udp", "8080/tcp"]
    assert tags["user"] == "1000:1000"
    out = tmp_path / f"out-{flist.stem}"
    extract(flist, out)
    _expect_merged(out)


@pytest.mark.parametrize("kind", ["docker-save", "oci-tar", "oci-dir"])
def test_import_image(tmp_path: Path, kind: str) -> None:
    layers = [_layer(LOWER), _layer(UPPER)]
    if kind == "docker-save":
        archive = tmp_path / "image.tar"
        _docker_save(archive, layers)
    elif kind == "oci-tar":
        archive = tmp_path / "image.tar"
        _write_tar(archive, _oci_layout(layers))
    else:
        archive = tmp_path / "layout"
        for name, data in _oci_layout(layers).items():
            (archive / name).parent.mkdir(parents=True, exist_ok=True)
            (archive / name).write_bytes(data)
    report = import_image(archive, tmp_path / "image.fl", [f"dir://{tmp_path / 'blocks'}"])
    assert report.files >= 5
    _check_image(tmp_path / "image.fl", tmp_path)


def test_import_image_checks_digests(tmp_path: Path) -> None:
    members = _oci_layout([_layer(LOWER)])
    layer_name = next(
        n for n in members if n.startswith("blobs/") and members[n][:2] == b"\x1f\x8b"
    )
    members[layer_name] = gzip.compress(_layer({"evil": b"swapped layer"}))
    _write_tar(tmp_path / "image.tar", members)
    with pytest.raises(FlistError, match="does not match its digest"):
        import_image(tmp_path / "image.tar", tmp_path / "i.fl", [f"dir://{tmp_path / 'b'}"])
    assert not (tmp_path / "i.fl").exists()


def test_import_not_an_image(tmp_path: Path) -> None:
    _write_tar(tmp_path / "x.tar", {"hello.txt": b"hi"})
    with pytest.raises(FlistError, match="neither a docker save tarball nor an OCI image"):
        import_image(tmp_path / "x.tar", tmp_path / "i.fl", [f"dir://{tmp_path / 'b'}"])


def _hardlink_layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"shared content " * 50_000  # spans blocks: still uploading when removed
        info = tarfile.TarInfo("a")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name in ("b", "c"):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.LNKTYPE, "a"
            tar.addfile(link)
    return buf.getvalue()


def test_whiteout_of_a_hard_links_first_name_keeps_the_others(tmp_path: Path) -> None:
    layers = [_hardlink_layer(), _layer({".wh.a": b""})]
    archive = tmp_path / "image.tar"
    _docker_save(archive, layers)
    import_image(archive, tmp_path / "i.fl", [f"dir://{tmp_path / 'blocks'}"], block_size=65536)
    out = tmp_path / "out"
    extract(tmp_path / "i.fl", out)
    assert not (out / "a").exists()
    assert (out / "b").read_bytes() == b"shared content " * 50_000
    assert os.stat(out / "b").st_ino == os.stat(out / "c").st_ino  # still one file

    # the same through merge: the layers as flists
    store = f"dir://{tmp_path / 'blocks'}"
    flists = []
    for i, layer in enumerate(layers):
        (tmp_path / f"l{i}.tar").write_bytes(layer)
        flists.append(tmp_path / f"l{i}.fl")
        create(tmp_path / f"l{i}.tar", flists[-1], [store], block_size=65536)
    merge(flists, tmp_path / "m.fl")
    extract(tmp_path / "m.fl", tmp_path / "out2")
    assert (tmp_path / "out2" / "c").read_bytes() == b"shared content " * 50_000
    assert not (tmp_path / "out2" / "a").exists()
