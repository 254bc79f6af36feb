"""Image conversion, tags and upload progress on a real hub."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.flist.test_layers import _layer, _oci_layout, _write_tar
from zeroos.flist.extract import extract
from zeroos.flist.format import Flist
from zeroos.hub import BadRequest, NotFound

from .conftest import Hub, make_archive


def test_image_of_an_oci_archive(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    alice = new_user()
    layers = [
        _layer({"srv": None, "srv/app": b"v1", "etc/os": b"base"}),
        _layer({"srv/app": b"v2"}),
    ]
    _write_tar(tmp_path / "web.tar", _oci_layout(layers))
    with alice.client() as client:
        report = client.upload_image(tmp_path / "web.tar")
        assert report["flist"] == f"{alice.name}/web.fl"
        contents = client.contents(alice.name, "web.fl")
        assert json.loads(contents["tags"]["entrypoint"]) == ["/bin/sh", "-c"]
        assert json.loads(contents["tags"]["ports"]) == ["53/udp", "8080/tcp"]
        client.download(alice.name, "web.fl", tmp_path / "web.fl")
        with pytest.raises(BadRequest):
            client.upload_image(make_archive(tmp_path / "plain.tar", {"a": b"not an image"}))
    with Flist.open(tmp_path / "web.fl") as fl:
        assert json.loads(fl.tags()["env"]) == ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"]
    extract(tmp_path / "web.fl", tmp_path / "out")
    assert (tmp_path / "out" / "srv" / "app").read_bytes() == b"v2"


def test_tags_group_links_to_any_repository(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    alice, bob = new_user(), new_user()
    archive = make_archive(tmp_path / "lib.tar.gz", {"lib": b"lib"})
    with bob.client() as client:
        client.upload(archive)
    with alice.client() as client:
        client.upload(archive)
        assert client.tag("v1", "lib.fl", bob.name, "lib.fl") == {"lib.fl": f"{bob.name}/lib.fl"}
        client.tag("v1", "mine.fl", alice.name, "lib.fl")
        assert client.tags(alice.name) == {
            "v1": {"lib.fl": f"{bob.name}/lib.fl", "mine.fl": f"{alice.name}/lib.fl"}
        }
        with pytest.raises(NotFound):
            client.tag("v1", "x.fl", bob.name, "missing.fl")
        with pytest.raises(BadRequest):
            client.tag("bad*tag", "x.fl", bob.name, "lib.fl")
        client.untag("v1", "lib.fl")
        client.untag("v1", "mine.fl")
        assert client.tags(alice.name) == {}
        with pytest.raises(NotFound):
            client.untag("v1", "mine.fl")
    with hub.http() as http:  # tagging is the owner's
        r = http.get(
            f"/api/flist/me/v2/x.fl/tag/{bob.name}/lib.fl", headers=bob.headers(alice.name)
        )
        assert r.status_code == 403


def test_upload_progress_is_polled_while_it_runs(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    alice = new_user()
    archive = make_archive(tmp_path / "slow.tar.gz", {"blob": os.urandom(3_000_000)})
    data = archive.read_bytes()
    release = threading.Event()

    head = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="slow.tar.gz"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    tail = b"\r\n--xyz--\r\n"

    def slow_body() -> Any:  # the upload stalls half-way until the test has seen it
        yield head + data[: len(data) // 2]
        release.wait(60)
        yield data[len(data) // 2 :] + tail

    whole = head + data + tail
    headers = {**alice.headers(), "Content-Type": "multipart/form-data; boundary=xyz",
               "Content-Length": str(len(whole))}  # fmt: skip
    result: dict[str, Any] = {}

    def send() -> None:
        with httpx.Client(base_url=hub.url, timeout=60) as http:
            r = http.post("/api/flist/me/upload?progress=job-0001", headers=headers,
                          content=slow_body())  # fmt: skip
            result["answer"] = r.json()

    sender = threading.Thread(target=send)
    sender.start()
    try:
        with alice.client() as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    seen = client.progress("job-0001")
                    if seen["received"] > 0:
                        break
                except NotFound:
                    pass
                assert time.monotonic() < deadline, "no progress reported"
                time.sleep(0.05)
            assert seen["state"] == "receiving"
            assert seen["total"] == len(whole)
            assert 0 < seen["received"] < len(whole)
            release.set()
            sender.join(60)
            assert result["answer"]["status"] == "success"
            done = client.progress("job-0001")
            assert done["state"] == "done"
            assert done["received"] == len(whole)
            assert done["processed"] == 3_000_000
            with pytest.raises(BadRequest):
                client.progress("no")
    finally:
        release.set()
        sender.join(60)
