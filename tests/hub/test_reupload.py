"""The same .tar.gz uploaded again: the hub reuses the flist it made of it while every block
that flist names is in its store (real hub, zero-id and zero-db), and converts it again when
one is gone. Each upload's flist is read back whole from the store."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from zeroos.flist.extract import extract
from zeroos.flist.format import Flist
from zeroos.hub import Forbidden
from zeroos.hub.reuse import HEAD, Archives, Arrival, Counts
from zeroos.zdb import Client

from .conftest import Hub, make_archive


def _files() -> dict[str, bytes]:
    return {
        "big": os.urandom(1_300_000),  # three blocks
        "etc/conf": b"key=value\n",
        "bin/tool": os.urandom(70_000),
        "same/a": b"twice" * 1000,
        "same/b": b"twice" * 1000,  # the same block as same/a
    }


def _read_back(fl: Path, dest: Path, files: dict[str, bytes]) -> None:
    """Every file of ``files`` read from the flist ``fl`` through the hub's store."""
    extract(fl, dest)
    for name, content in files.items():
        assert (dest / name).read_bytes() == content, name
    found = {str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()}
    assert found == set(files)


def _blocks(fl: Path) -> list[bytes]:
    with Flist.open(fl) as flist:
        return list(dict.fromkeys(ref.id for _, ref in flist.all_blocks()))


def test_the_same_archive_again_reuses_its_flist(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    files = _files()
    archive = make_archive(tmp_path / "app.tar.gz", files)
    with new_user().client() as client:
        first: dict[str, Any] = client.upload(archive)
        assert first["reused"] is False
        assert first["blocks_new"] >= 5
        again: dict[str, Any] = client.upload(archive)
        assert again["reused"] is True
        assert again["blocks_new"] == 0
        assert again["blocks_present"] == first["blocks_new"] + first["blocks_present"]
        assert (again["files"], again["bytes"]) == (first["files"], first["bytes"])
        client.download(client.me()["repository"], "app.fl", tmp_path / "app.fl")
    _read_back(tmp_path / "app.fl", tmp_path / "out", files)


def test_a_lost_block_makes_the_upload_convert_again(
    hub: Hub, new_user: Any, tmp_path: Path
) -> None:
    files = _files()
    archive = make_archive(tmp_path / "lost.tar.gz", files)
    with new_user().client() as client:
        repo = client.me()["repository"]
        client.upload(archive)
        client.download(repo, "lost.fl", tmp_path / "before.fl")
        gone = _blocks(tmp_path / "before.fl")[1]
        with Client(port=int(hub.store_url.rsplit(":", 1)[1])) as zdb:
            zdb.delete(gone)
            again: dict[str, Any] = client.upload(archive)
            assert again["reused"] is False
            assert again["blocks_new"] == 1  # the lost one, stored again
            assert zdb.exists(gone)
        client.download(repo, "lost.fl", tmp_path / "after.fl")
        _read_back(tmp_path / "after.fl", tmp_path / "out", files)
        # converted again, the archive is known again
        assert client.upload(archive)["reused"] is True


def test_two_users_each_get_their_own_flist(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    files = _files()
    archive = make_archive(tmp_path / "shared.tar.gz", files)
    alice, bob = new_user(), new_user()
    with alice.client() as a, bob.client() as b:
        assert a.upload(archive)["reused"] is False
        answer: dict[str, Any] = b.upload(archive)
        assert answer["reused"] is True
        assert answer["flist"] == f"{bob.name}/shared.fl"
        assert {e["name"] for e in b.repository(bob.name)} == {"shared.fl"}
        a.download(alice.name, "shared.fl", tmp_path / "alice.fl")
        b.download(bob.name, "shared.fl", tmp_path / "bob.fl")
        # neither acts in the other's repository
        with httpx.Client(base_url=hub.url, timeout=30) as http:
            r = http.delete("/api/flist/me/shared.fl", headers=bob.headers(alice.name))
            assert r.status_code == 403, r.text
        with alice.client(active_user=bob.name) as intruder, pytest.raises(Forbidden):
            intruder.delete("shared.fl")
        # what one does to their copy leaves the other's as it was
        b.rename("shared.fl", "mine.fl")
        b.delete("mine.fl")
        assert {e["name"] for e in a.repository(alice.name)} == {"shared.fl"}
        a.download(alice.name, "shared.fl", tmp_path / "alice-after.fl")
    assert (tmp_path / "alice-after.fl").read_bytes() == (tmp_path / "alice.fl").read_bytes()
    _read_back(tmp_path / "alice.fl", tmp_path / "a", files)
    _read_back(tmp_path / "bob.fl", tmp_path / "b", files)


def _fixed_archive(tail: bytes, head: bytes) -> bytes:
    """A .tar.gz whose bytes depend only on its content (no time in it)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in (("first", head), ("last", tail)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(buffer.getvalue(), mtime=0)


def test_an_archive_beginning_like_another_is_its_own(
    hub: Hub, new_user: Any, tmp_path: Path
) -> None:
    head = os.urandom(HEAD + 500_000)
    one, two = b"the first archive's end", b"the second archive's end"
    (tmp_path / "a.tar.gz").write_bytes(_fixed_archive(one, head))
    (tmp_path / "b.tar.gz").write_bytes(_fixed_archive(two, head))
    (tmp_path / "c.tar.gz").write_bytes(_fixed_archive(two, head))
    first_bytes = [(tmp_path / f"{n}.tar.gz").read_bytes()[:HEAD] for n in "ab"]
    assert first_bytes[0] == first_bytes[1]  # the hub cannot tell them apart at first
    with new_user().client() as client:
        repo = client.me()["repository"]
        assert client.upload(tmp_path / "a.tar.gz")["reused"] is False
        second: dict[str, Any] = client.upload(tmp_path / "b.tar.gz")
        assert second["reused"] is False  # kept on disk, then converted
        assert second["blocks_new"] == 1
        assert client.upload(tmp_path / "c.tar.gz")["reused"] is True  # b's twin
        for name, tail in (("a", one), ("b", two), ("c", two)):
            client.download(repo, f"{name}.fl", tmp_path / f"{name}.fl")
            _read_back(tmp_path / f"{name}.fl", tmp_path / name, {"first": head, "last": tail})


def test_a_reused_upload_reports_its_progress(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    alice = new_user()
    files = _files()
    archive = make_archive(tmp_path / "p.tar.gz", files)
    with alice.client() as client, httpx.Client(base_url=hub.url, timeout=60) as http:
        client.upload(archive)
        with archive.open("rb") as body:
            r = http.post("/api/flist/me/upload?progress=again-0001", headers=alice.headers(),
                          files={"file": ("p.tar.gz", body)})  # fmt: skip
        assert r.json()["payload"]["reused"] is True
        done = client.progress("again-0001")
    assert done["state"] == "done"
    assert done["received"] == done["total"] > archive.stat().st_size
    assert done["processed"] == sum(len(c) for c in files.values())


class _Trickle(io.RawIOBase):
    """A stream handing out at most 1000 bytes a read, as a socket might."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(1000, size) if size >= 0 else 1000)


@pytest.mark.parametrize("size", [0, 10, HEAD, HEAD + 12_345])
def test_an_arrival_hands_out_every_byte_once_and_hashes_them_all(size: int) -> None:
    data = os.urandom(size)
    arrival = Arrival(_Trickle(data))  # type: ignore[arg-type]
    head = arrival.head()
    assert head == arrival.head() == hashlib.blake2b(data[:HEAD], digest_size=16).hexdigest()
    got = arrival.read(7) + arrival.read(HEAD) + arrival.read(-1)
    assert got == data
    assert arrival.read(10) == b""
    assert arrival.digest() == hashlib.blake2b(data, digest_size=32).hexdigest()


def test_archives_keep_the_last_used(tmp_path: Path) -> None:
    archives = Archives(tmp_path / "kept", keep=2)
    fl = tmp_path / "x.fl"
    fl.write_bytes(b"an flist")
    counts = Counts(files=1, bytes=8)
    for n in range(3):
        archives.remember(f"h{n}", f"d{n}", fl, counts)
        time.sleep(0.01)  # distinct mtimes
    assert archives.get("d0") is None
    assert archives.known_head("h1")
    assert archives.known_head("h2")
    kept = archives.get("d1")
    assert kept is not None
    assert kept.flist.read_bytes() == b"an flist"
    archives.forget("d1")
    assert archives.get("d1") is None
    assert not archives.known_head("h1")
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["h2-d2.fl", "h2-d2.json"]
