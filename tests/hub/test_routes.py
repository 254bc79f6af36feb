"""zero-hub's routes over real HTTP, with real zero-id tokens and a real zero-db behind."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from zeroos.flist.extract import extract
from zeroos.hub import Conflict, Forbidden, NotFound

from .conftest import Hub, User, make_archive

FILES = {"etc/motd": b"welcome\n", "bin/tool": os.urandom(200_000), "data/empty": b""}


def upload(user: User, tmp_path: Path, name: str = "app", files: dict[str, bytes] | None = None,
           active_user: str | None = None) -> dict[str, Any]:  # fmt: skip
    archive = make_archive(tmp_path / f"{name}.tar.gz", files or FILES)
    with user.client(active_user) as client:
        return client.upload(archive)


def test_upload_list_fetch_and_extract(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    alice = new_user()
    report = upload(alice, tmp_path)
    assert report["flist"] == f"{alice.name}/app.fl"
    assert report["files"] == 3
    assert report["bytes"] == sum(map(len, FILES.values()))
    with alice.client() as client, hub.http() as http:
        assert f"{alice.name}/app.fl" in client.flists()
        assert f"{alice.name}/app.fl" in client.flists(search=alice.name[:0] + "app")
        assert client.flists(search="no-such-name") == []
        assert {"name": alice.name, "flists": 1} in client.repositories()
        [entry] = client.repository(alice.name)
        assert entry["name"] == "app.fl"
        assert entry["type"] == "regular"
        contents = client.contents(alice.name, "app.fl")
        paths = {e["path"] for e in contents["entries"]}
        assert {"/etc/motd", "/bin/tool", "/data/empty"} <= paths
        size = client.download(alice.name, "app.fl", tmp_path / "got.fl")
        light = client.light(alice.name, "app.fl")
        data = (tmp_path / "got.fl").read_bytes()
        assert light["size"] == size == len(data)
        assert light["md5"] == hashlib.md5(data).hexdigest()
        assert light["blake2b"] == hashlib.blake2b(data, digest_size=32).hexdigest()
        assert http.get(f"/{alice.name}/app.fl.md5").text.strip() == light["md5"]
        listing = http.get(f"/{alice.name}/app.fl.txt").text.splitlines()
        assert "/etc/motd" in listing
        assert http.get(f"/{alice.name}/app.fl.json").json()["name"] == "app.fl"
        r = http.get(f"/{alice.name}/app.fl.md")
        assert r.status_code == 404
        assert r.json()["status"] == "error"
        client.set_readme("app.fl", "# App\nhello")
        assert http.get(f"/{alice.name}/app.fl.md").text == "# App\nhello"
    # the downloaded flist reads back from the hub's store
    extract(tmp_path / "got.fl", tmp_path / "out")
    for name, content in FILES.items():
        assert (tmp_path / "out" / name).read_bytes() == content


def test_second_upload_finds_its_blocks_present(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    alice = new_user()
    files = {"x": os.urandom(100_000)}
    first = upload(alice, tmp_path, "one", files)
    second = upload(alice, tmp_path, "two", files)
    assert first["blocks_new"] >= 1
    assert first["blocks_present"] == 0
    assert second["blocks_new"] == 0
    assert second["blocks_present"] == first["blocks_new"]


def test_merge_link_rename_promote_delete(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    alice, bob = new_user(), new_user()
    upload(alice, tmp_path, "base", {"a": b"base a", "b": b"base b"})
    upload(alice, tmp_path, "top", {"b": b"top b", "c": b"top c"})
    with alice.client() as client:
        client.merge("both.fl", [f"{alice.name}/base.fl", f"{alice.name}/top.fl"])
        client.download(alice.name, "both.fl", tmp_path / "both.fl")
        extract(tmp_path / "both.fl", tmp_path / "both")
        assert (tmp_path / "both" / "a").read_bytes() == b"base a"
        assert (tmp_path / "both" / "b").read_bytes() == b"top b"
        link = client.link("both.fl", "latest.fl")
        assert link["type"] == "symlink"
        assert link["target"] == f"{alice.name}/both.fl"
        assert (
            client.light(alice.name, "latest.fl")["md5"]
            == client.light(alice.name, "both.fl")["md5"]
        )
        renamed = client.rename("top.fl", "upper.fl")
        assert renamed["name"] == "upper.fl"
        with pytest.raises(NotFound):
            client.light(alice.name, "top.fl")
        with pytest.raises(Conflict):
            client.rename("base.fl", "upper.fl")
        client.delete("base.fl")
        with pytest.raises(NotFound):
            client.delete("base.fl")
        names = {e["name"] for e in client.repository(alice.name)}
        assert names == {"both.fl", "latest.fl", "upper.fl"}
    with bob.client() as client:
        promoted = client.promote(alice.name, "upper.fl", "mine.fl")
        assert promoted["type"] == "regular"
        assert [e["name"] for e in client.repository(bob.name)] == ["mine.fl"]


def test_upload_flist_needs_every_block(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    from zeroos.flist.create import create

    alice = new_user()
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(os.urandom(50_000))
    create(src, tmp_path / "elsewhere.fl", [f"dir://{tmp_path / 'blocks'}"])
    with alice.client() as client:
        with pytest.raises(Conflict, match="blocks are not in the hub"):
            client.upload_flist(tmp_path / "elsewhere.fl")
        create(src, tmp_path / "here.fl", [hub.store_url])
        assert client.upload_flist(tmp_path / "here.fl")["flist"] == f"{alice.name}/here.fl"
        client.download(alice.name, "here.fl", tmp_path / "back.fl")
    extract(tmp_path / "back.fl", tmp_path / "out")
    assert (tmp_path / "out" / "f").read_bytes() == (src / "f").read_bytes()


def _head_only(hub: Hub, headers: dict[str, str], length: int) -> bytes:
    """The status line the hub answers to an upload's headers alone."""
    port = int(hub.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        lines = ["POST /api/flist/me/upload HTTP/1.1", "Host: hub",
                 f"Content-Length: {length}", "Content-Type: multipart/form-data; boundary=b",
                 *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return sock.recv(200).split(b"\r\n")[0]


# every route that changes a repository: (method, path, needs a body)
def _changes(name: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("GET", "/api/flist/me", {}),
        ("GET", f"/api/flist/me/{name}/link/l.fl", {}),
        ("GET", f"/api/flist/me/{name}/rename/r.fl", {}),
        ("POST", f"/api/flist/me/{name}/readme", {"content": b"readme"}),
        ("POST", "/api/flist/me/merge/m.fl", {"json": []}),
        ("DELETE", f"/api/flist/me/{name}", {}),
        ("POST", "/api/flist/me/upload", {"files": {"file": ("x.tar.gz", b"")}}),
        ("POST", "/api/flist/me/upload-flist", {"files": {"file": ("x.fl", b"")}}),
        ("POST", "/api/flist/me/image", {"files": {"file": ("x.tar", b"")}}),
    ]


def test_anonymous_and_bad_tokens_are_refused_everywhere(
    hub: Hub, new_user: Any, tmp_path: Path
) -> None:
    alice = new_user()
    upload(alice, tmp_path)
    with hub.http() as http:
        for method, path, kwargs in _changes("app.fl"):
            for headers in ({}, {"Authorization": "bearer not.a.jwt"}, {"Authorization": "x"}):
                r = http.request(method, path, headers=headers, **kwargs)
                assert r.status_code == 401, (method, path, r.text)
                assert r.json()["status"] == "error"
                assert r.json()["message"]
        # public routes answer anyone
        for path in ("/api/flist", "/api/repositories", f"/api/flist/{alice.name}",
                     f"/api/flist/{alice.name}/app.fl", f"/{alice.name}/app.fl"):  # fmt: skip
            assert http.get(path).status_code == 200, path
    with alice.client() as client:
        assert [e["name"] for e in client.repository(alice.name)] == ["app.fl"]


def test_another_user_cannot_touch_a_repository(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    alice, bob = new_user(), new_user()
    upload(alice, tmp_path)
    with alice.client() as client:
        before = client.light(alice.name, "app.fl")
    with hub.http() as http:
        for method, path, kwargs in _changes("app.fl"):
            r = http.request(method, path, headers=bob.headers(alice.name), **kwargs)
            assert r.status_code == 403, (method, path, r.text)
            assert "user:memberof:" in r.json()["message"]
        # acting as himself, bob's names reach only his own (empty) repository
        r = http.delete("/api/flist/me/app.fl", headers=bob.headers())
        assert r.status_code == 404
    with bob.client(alice.name) as client, pytest.raises(Forbidden):
        client.me()
    with alice.client() as client:
        assert client.light(alice.name, "app.fl") == before


def test_organisation_member_acts_in_its_repository(
    hub: Hub, new_user: Any, org: tuple[str, User, User], tmp_path: Path
) -> None:
    name, owner, member = org
    outsider = new_user()
    report = upload(member, tmp_path, "shared", active_user=name)
    assert report["flist"] == f"{name}/shared.fl"
    with member.client(name) as client:
        assert client.me() == {"username": member.name, "repository": name}
        client.link("shared.fl", "current.fl")
    # the owner's password token holds no memberof scope: refused, as 0-hub did
    with owner.client(name) as client, pytest.raises(Forbidden):
        client.delete("shared.fl")
    with outsider.client(name) as client, pytest.raises(Forbidden):
        client.delete("shared.fl")
    with member.client(name) as client:
        client.delete("current.fl")
        assert [e["name"] for e in client.repository(name)] == ["shared.fl"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/flist/me/app.fl/link/..fl"),
        ("GET", "/api/flist/me/app.fl/rename/a%2Fb.fl"),
        ("GET", "/api/flist/me/app.fl/rename/noext"),
        ("GET", "/api/flist/me/promote/..%2F..%2Fetc/passwd/x.fl"),
        ("DELETE", "/api/flist/me/..fl"),
        ("GET", f"/api/flist/me/app.fl/link/{'x' * 200}.fl"),
        ("GET", "/api/flist/..%2Fhub/app.fl"),
        ("GET", "/api/flist/x/..%2F..%2Fhub.fl/light"),
    ],
)
def test_bad_names_are_400(hub: Hub, new_user: Any, tmp_path: Path, method: str,
                           path: str) -> None:  # fmt: skip
    alice = new_user()
    with hub.http() as http:
        r = http.request(method, path, headers=alice.headers())
        assert r.status_code in (400, 404), r.text
        assert r.json()["status"] == "error"
        if r.status_code == 400:
            assert "not valid" in r.json()["message"]


def test_bad_uploads_are_refused_and_the_hub_keeps_serving(
    hub: Hub, new_user: Any, tmp_path: Path
) -> None:
    alice = new_user()
    h = alice.headers()
    with hub.http() as http:
        # refused from its headers, before a byte of the body is sent
        assert b"413" in _head_only(hub, h, 9 << 20)
        r = http.post("/api/flist/me/upload", headers=h, content=iter([b"x"]))  # chunked
        assert r.status_code == 411, r.text
        r = http.post("/api/flist/me/upload", headers=h, files={"other": ("a", b"x")})
        assert r.status_code == 400
        assert "'file'" in r.json()["message"]
        r = http.post("/api/flist/me/upload", headers=h, files={"file": ("a.tar.gz", b"junk")})
        assert r.status_code == 400
        assert "tar" in r.json()["message"]
        r = http.post("/api/flist/me/upload-flist", headers=h,
                      files={"file": ("a.fl", b"not sqlite" * 100)})  # fmt: skip
        assert r.status_code == 400
        assert "not an flist" in r.json()["message"]
        evil = make_archive(tmp_path / "evil.tar.gz", {"../../escape": b"x"})
        r = http.post("/api/flist/me/upload", headers=h,
                      files={"file": ("evil.tar.gz", evil.read_bytes())})  # fmt: skip
        assert r.status_code == 400, r.text
        r = http.post("/api/flist/me/merge/m.fl", headers=h, json=["nobody/none.fl"])
        assert r.status_code == 404
        assert http.get("/api/flist/me", headers=h).status_code == 200
    assert not any((hub.data / "hub" / "tmp").iterdir())  # nothing left from the refusals
    assert upload(alice, tmp_path)["files"] == 3


def test_listings_follow_changes_made_in_quick_succession(
    hub: Hub, new_user: Any, tmp_path: Path
) -> None:
    alice = new_user()
    upload(alice, tmp_path)
    time.sleep(1.2)  # the repository's folder has settled: its listing is kept from now on
    with alice.client() as client:
        assert [e["name"] for e in client.repository(alice.name)] == ["app.fl"]
        for i in range(5):  # each change must show in the very next listing
            client.link("app.fl", f"l{i}.fl")
            names = {e["name"] for e in client.repository(alice.name)}
            assert f"l{i}.fl" in names
            assert f"{alice.name}/l{i}.fl" in client.flists()
        client.delete("l0.fl")
        assert "l0.fl" not in {e["name"] for e in client.repository(alice.name)}


def test_an_upload_cut_off_midway_leaves_nothing_and_the_hub_keeps_serving(
    hub: Hub, new_user: Any, tmp_path: Path
) -> None:
    """The archive is converted as it arrives: a client that goes away half way through
    stops the conversion, and neither a scratch file nor an flist stays behind."""
    alice = new_user()
    files = {f"f{i}": os.urandom(300_000) for i in range(12)}
    archive = make_archive(tmp_path / "cut.tar.gz", files)
    data = archive.read_bytes()
    head = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="cut.tar.gz"\r\n'
            b"Content-Type: application/gzip\r\n\r\n")  # fmt: skip
    body = head + data + b"\r\n--b--\r\n"
    port = int(hub.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        lines = ["POST /api/flist/me/upload HTTP/1.1", "Host: hub",
                 f"Content-Length: {len(body)}", "Content-Type: multipart/form-data; boundary=b",
                 *(f"{k}: {v}" for k, v in alice.headers().items())]  # fmt: skip
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body[: len(body) // 2])
    with hub.http() as http:
        deadline = time.monotonic() + 30
        while any((hub.data / "hub" / "tmp").iterdir()):  # the converter stops and cleans up
            assert time.monotonic() < deadline, list((hub.data / "hub" / "tmp").iterdir())
            time.sleep(0.05)
        assert http.get(f"/api/flist/{alice.name}").status_code == 404  # no flist was made
        # the whole archive, sent again, is converted
        r = http.post("/api/flist/me/upload", headers=alice.headers(),
                      files={"file": ("cut.tar.gz", data)})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["payload"]["files"] == 12
    assert not any((hub.data / "hub" / "tmp").iterdir())
