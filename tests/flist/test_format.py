"""The flist file: rfs's schema, flists written by other tools, damaged files."""

from __future__ import annotations

import io
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from zeroos.flist import blocks
from zeroos.flist.create import create
from zeroos.flist.errors import FlistError, FlistFormatError, StoreUnavailable
from zeroos.flist.extract import extract
from zeroos.flist.format import SCHEMA, Flist
from zeroos.flist.models import ROOT_INO
from zeroos.flist.query import cat
from zeroos.flist.stores import Router

from .conftest import free_port


def _rfs_style(path: Path, store_url: str, target_as_text: bool) -> bytes:
    """An flist as rfs writes it: its schema only, blobs for ids, the target as given."""
    plain = b"content written by another tool\n"
    ref, sealed = blocks.encode(plain)
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    rows = [
        (1, 0, "/", 0, 0, 0, stat.S_IFDIR | 0o755, 0, 1, 1),
        (2, 1, "file", len(plain), 0, 0, stat.S_IFREG | 0o644, 0, 2, 2),
        (3, 1, "link", 4, 0, 0, stat.S_IFLNK | 0o777, 0, 3, 3),
        (4, 1, "dir", 0, 0, 0, stat.S_IFDIR | 0o700, 0, 4, 4),
    ]
    conn.executemany("INSERT INTO inode VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    conn.execute("INSERT INTO extra VALUES (3, ?)", ("file" if target_as_text else b"file",))
    conn.execute("INSERT INTO block VALUES (2, ?, ?)", (ref.id, ref.key))
    conn.execute("INSERT INTO route VALUES (0, 255, ?)", (store_url,))
    conn.execute("INSERT INTO tag VALUES ('version', 'v1')")
    conn.commit()
    conn.close()
    return sealed


@pytest.mark.parametrize("as_text", [True, False], ids=["text-target", "blob-target"])
def test_flist_written_by_rfs_opens(tmp_path: Path, as_text: bool) -> None:
    store = tmp_path / "blocks"
    sealed = _rfs_style(tmp_path / "rfs.fl", f"dir://{store}", as_text)
    ref_id = blocks.digest(sealed)
    (store / ref_id.hex()[:2]).mkdir(parents=True)
    (store / ref_id.hex()[:2] / ref_id.hex()).write_bytes(sealed)
    with Flist.open(tmp_path / "rfs.fl") as fl:
        assert [p for p, _ in fl.walk()] == ["/", "/file", "/link", "/dir"]
        assert fl.link_target(fl.resolve("/link").ino) == b"file"
        assert fl.block_size == 512 * 1024  # no block-size tag: rfs's default
    extract(tmp_path / "rfs.fl", tmp_path / "out")
    assert (tmp_path / "out" / "file").read_bytes() == b"content written by another tool\n"
    assert (tmp_path / "out" / "link").readlink() == Path("file")


def test_unreachable_store_lists_but_read_names_it(tmp_path: Path) -> None:
    url = f"zdb://127.0.0.1:{free_port()}/hub"
    _rfs_style(tmp_path / "rfs.fl", url, True)
    with Flist.open(tmp_path / "rfs.fl") as fl:
        node = fl.resolve("/file")  # listing and stat need no store
        assert node.size == 32
        store = Router(fl.routes(), timeout=2.0)
        try:
            with pytest.raises(StoreUnavailable, match=f"store {url} is unreachable"):
                cat(fl, store, "/file", io.BytesIO())
        finally:
            store.close()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not-sqlite", "no-table"])
def test_damaged_flist_is_refused(tmp_path: Path, tree: Path, damage: str) -> None:
    path = tmp_path / "t.fl"
    create(tree, path, [f"dir://{tmp_path / 'blocks'}"])
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(data[:4096] + b"\xff" * (len(data) - 4096))
    elif damage == "not-sqlite":
        path.write_bytes(b"this is not an flist at all\n" * 100)
    else:
        conn = sqlite3.connect(path)
        conn.execute("DROP TABLE route")
        conn.commit()
        conn.close()
    with pytest.raises(FlistFormatError) as info, Flist.open(path) as fl:
        list(fl.walk())
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_edits_are_rolled_back_on_error(tmp_path: Path) -> None:
    path = tmp_path / "t.fl"
    Flist.create(path).close()

    def edit_then_fail() -> None:
        with Flist.open(path, writable=True) as fl:
            fl.add_inode(ROOT_INO, "x", mode=stat.S_IFREG | 0o644)
            raise FlistError("boom")

    with pytest.raises(FlistError, match="boom"):
        edit_then_fail()
    with Flist.open(path) as fl:
        assert fl.children(ROOT_INO) == []


def test_info_counts_and_unique_bytes(tmp_path: Path) -> None:
    from zeroos.flist.query import info

    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    block = 65536
    a = os.urandom(block * 2 + 100)  # 3 blocks
    (src / "a").write_bytes(a)
    (src / "d" / "copy").write_bytes(a)  # same 3 blocks
    (src / "b").write_bytes(a[:block] + os.urandom(10))  # 1 shared block + 1 new of 10 bytes
    (src / "link").symlink_to("a")
    create(src, tmp_path / "t.fl", [f"dir://{tmp_path / 'blocks'}"], block_size=block)
    with Flist.open(tmp_path / "t.fl") as fl:
        facts = info(fl)
    assert (facts.files, facts.dirs, facts.links, facts.other) == (3, 2, 1, 0)
    assert facts.total_bytes == 2 * len(a) + block + 10
    assert facts.blocks == 3 + 3 + 2
    assert facts.unique_blocks == 4
    assert facts.unique_bytes == len(a) + 10


@pytest.mark.parametrize("url", ["s3://bucket.example/flists", "zdb://127.0.0.1:{port}/hub"])
def test_unreachable_or_unknown_store_in_the_cli(tmp_path: Path, url: str) -> None:
    import subprocess
    import sys

    url = url.format(port=free_port())
    _rfs_style(tmp_path / "rfs.fl", url, True)

    def zos(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "zeroos.cli", "flist", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    listing = zos("ls", str(tmp_path / "rfs.fl"))
    assert listing.returncode == 0
    assert "link -> file" in listing.stdout
    out = zos("cat", str(tmp_path / "rfs.fl"), "/file")
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1
    assert url.split("/")[2] in out.stderr  # names the store
