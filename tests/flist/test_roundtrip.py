"""create -> extract round trips of real trees, through dir and zero-db stores."""

from __future__ import annotations

import contextlib
import os
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from zeroos.flist.create import create, create_from_tar
from zeroos.flist.errors import FlistError
from zeroos.flist.extract import extract
from zeroos.flist.format import Flist

from .conftest import IS_ROOT, snapshot


def _store(tmp_path: Path) -> str:
    return f"dir://{tmp_path / 'blocks'}"


def test_dir_roundtrip_every_entry_type(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = create(tree, tmp_path / "t.fl", [_store(tmp_path)], block_size=256 * 1024)
    assert report.files == 9  # hard links are not files of their own
    # same-as-large and the sparse file's zero blocks deduplicate
    assert report.upload.unique_blocks < report.upload.blocks
    extracted = extract(tmp_path / "t.fl", out, devices=True)
    assert extracted.skipped == []
    assert snapshot(out) == snapshot(tree)
    # hard links come back as hard links; the sparse file stays sparse
    assert os.stat(out / "hostname-link").st_ino == os.stat(out / "etc" / "hostname").st_ino
    assert os.stat(out / "sparse").st_blocks * 512 < 1024 * 1024


def test_second_create_uploads_nothing(tree: Path, tmp_path: Path) -> None:
    first = create(tree, tmp_path / "a.fl", [_store(tmp_path)])
    assert first.upload.stored_blocks == first.upload.unique_blocks > 0
    second = create(tree, tmp_path / "b.fl", [_store(tmp_path)])
    assert second.upload.stored_blocks == 0
    assert second.upload.unique_blocks == first.upload.unique_blocks


def test_zdb_store_roundtrip(tree: Path, tmp_path: Path, zdb_url: Callable[[], str]) -> None:
    url = zdb_url()
    create(tree, tmp_path / "z.fl", [url], block_size=128 * 1024)
    with Flist.open(tmp_path / "z.fl") as fl:
        assert [r.url for r in fl.routes()] == [url]
        assert fl.tag("block-size") == str(128 * 1024)
    extract(tmp_path / "z.fl", tmp_path / "out", devices=True)
    assert snapshot(tmp_path / "out") == snapshot(tree)


def test_routes_split_and_replicate(tree: Path, tmp_path: Path, zdb_url: Callable[[], str]) -> None:
    low, high, copy = zdb_url(), zdb_url(), zdb_url()
    specs = [f"00-7f={low}", f"80-ff={high}", f"00-ff={copy}"]
    create(tree, tmp_path / "r.fl", specs)
    from zeroos.zdb import Client

    def ids(url: str) -> set[bytes]:
        with Client.from_url(url, timeout=10) as c:
            return {e.key for e in c.scan_iter()}

    low_ids, high_ids, copy_ids = ids(low), ids(high), ids(copy)
    assert low_ids
    assert high_ids
    assert all(i[0] <= 0x7F for i in low_ids)
    assert all(i[0] >= 0x80 for i in high_ids)
    assert copy_ids == low_ids | high_ids
    extract(tmp_path / "r.fl", tmp_path / "out", devices=True)
    assert snapshot(tmp_path / "out") == snapshot(tree)


def test_tar_and_targz_sources(tree: Path, tmp_path: Path) -> None:
    for suffix, mode in ((".tar", "w"), (".tar.gz", "w:gz")):
        archive = tmp_path / f"tree{suffix}"
        with tarfile.open(archive, mode) as tar:
            tar.add(tree, arcname=".")
        fl = tmp_path / f"t{suffix}.fl"
        create(archive, fl, [_store(tmp_path)], allow_devices=True)
        out = tmp_path / f"out{suffix}"
        extract(fl, out, devices=True)
        want = snapshot(tree)
        got = snapshot(out)
        # tar keeps whole-second mtimes and the same fields: the trees match exactly
        assert got == want


@pytest.mark.skipif(not IS_ROOT, reason="owners and devices need root")
def test_owners_and_devices_only_when_asked(tree: Path, tmp_path: Path) -> None:
    create(tree, tmp_path / "t.fl", [_store(tmp_path)])
    report = extract(tmp_path / "t.fl", tmp_path / "out", devices=False)
    assert sorted(s.split(":")[0] for s in report.skipped) == ["/loop9", "/null"]
    assert not (tmp_path / "out" / "null").exists()
    assert os.lstat(tmp_path / "out" / "etc" / "hostname").st_uid == 1234


def test_id_cache_skips_sealing_and_heals(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "ids.sqlite"
    first = create(tree, tmp_path / "a.fl", [_store(tmp_path)], id_cache=cache)
    assert first.upload.sealed_blocks == first.upload.unique_blocks
    again = create(tree, tmp_path / "b.fl", [_store(tmp_path)], id_cache=cache)
    assert again.upload.sealed_blocks == again.upload.stored_blocks == 0
    # the store lost a block: it is sealed again and re-uploaded, the rest only hashed
    victim = next(p for p in (tmp_path / "blocks").rglob("*") if p.is_file())
    victim.unlink()
    healed = create(tree, tmp_path / "c.fl", [_store(tmp_path)], id_cache=cache)
    assert healed.upload.sealed_blocks == healed.upload.stored_blocks == 1
    extract(tmp_path / "c.fl", tmp_path / "out", devices=True)
    assert snapshot(tmp_path / "out") == snapshot(tree)


def test_tampered_id_cache_is_caught(tree: Path, tmp_path: Path) -> None:
    import sqlite3

    from zeroos.flist.errors import FlistError

    cache = tmp_path / "ids.sqlite"
    create(tree, tmp_path / "a.fl", [_store(tmp_path)], id_cache=cache)
    conn = sqlite3.connect(cache)
    conn.execute("UPDATE ids SET id = ?", (b"\x01" * 32,))
    conn.commit()
    conn.close()
    with pytest.raises(FlistError, match="wrong id cached"):
        create(tree, tmp_path / "b.fl", [f"dir://{tmp_path / 'fresh'}"], id_cache=cache)


def test_flist_written_inside_its_own_tree_is_left_out(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "data").write_bytes(os.urandom(100_000))
    for _ in range(2):  # the second time the old flist is there too
        create(src, src / "self.fl", [_store(tmp_path)])
        with Flist.open(src / "self.fl") as fl:
            assert [p for p, _ in fl.walk()] == ["/", "/data"]


def _piped(data: bytes) -> tuple[IO[bytes], threading.Thread]:
    """A read end of a pipe that ``data`` is written into by a thread (a stream that cannot
    seek, as an upload's body)."""
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with open(write_fd, "wb") as w, contextlib.suppress(BrokenPipeError):
            w.write(data)

    thread = threading.Thread(target=feed)
    thread.start()
    return open(read_fd, "rb"), thread


def test_create_from_a_tar_stream_that_cannot_seek(tree: Path, tmp_path: Path) -> None:
    archive = tmp_path / "tree.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname=".")
    data = archive.read_bytes()
    stream, feeder = _piped(data)
    with stream:
        assert not stream.seekable()
        report = create_from_tar(stream, tmp_path / "s.fl", [_store(tmp_path)],
                                 allow_devices=True, id_cache=tmp_path / "ids.sqlite")  # fmt: skip
    feeder.join()
    assert report.files > 0
    assert report.upload.stored_blocks > 0
    extract(tmp_path / "s.fl", tmp_path / "out", devices=True)
    assert snapshot(tmp_path / "out") == snapshot(tree)
    # again: every block known, nothing sealed or stored
    stream, feeder = _piped(data)
    with stream:
        again = create_from_tar(stream, tmp_path / "t.fl", [_store(tmp_path)],
                                allow_devices=True, id_cache=tmp_path / "ids.sqlite")  # fmt: skip
    feeder.join()
    assert again.upload.sealed_blocks == again.upload.stored_blocks == 0
    assert again.upload.unique_blocks == report.upload.unique_blocks


@pytest.mark.parametrize("cut", ["junk", "truncated"])
def test_a_bad_tar_stream_is_one_error_and_leaves_nothing(
    tree: Path, tmp_path: Path, cut: str
) -> None:
    archive = tmp_path / "tree.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname=".")
    data = b"no archive at all" * 100 if cut == "junk" else archive.read_bytes()[:-4000]
    stream, feeder = _piped(data)
    with stream, pytest.raises(FlistError, match=r"upload\.tar\.gz: |archive is damaged"):
        create_from_tar(stream, tmp_path / "bad.fl", [_store(tmp_path)], name="upload.tar.gz",
                        allow_devices=True)  # fmt: skip
    feeder.join()
    # neither the flist nor its temporary file stays behind
    assert not (tmp_path / "bad.fl").exists()
    assert not list(tmp_path.glob(".bad.fl*"))
