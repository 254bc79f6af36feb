"""Hostile archives and flists: refused or neutralised with one line, nothing written outside."""

from __future__ import annotations

import io
import os
import sqlite3
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from zeroos.flist import blocks
from zeroos.flist.create import create
from zeroos.flist.errors import BlockError, FlistError
from zeroos.flist.extract import extract
from zeroos.flist.format import Flist

STORE = "blocks"


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w") -> Path:
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o644
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def _refused(tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]], match: str) -> None:
    archive = _tar(tmp_path / "bad.tar", members)
    out = tmp_path / "bad.fl"
    with pytest.raises(FlistError, match=match) as info:
        create(archive, out, [f"dir://{tmp_path / STORE}"])
    assert "\n" not in str(info.value)
    assert not out.exists()  # no half-made flist left behind
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bad.fl")] == []


GOOD = (_member("ok.txt"), b"fine")


@pytest.mark.parametrize(
    ("member", "match"),
    [
        (_member("../escape.txt"), "climbs out of the tree"),
        (_member("a/../../escape.txt"), "climbs out of the tree"),
        (_member("/etc/passwd"), "absolute path"),
        (_member("up", tarfile.SYMTYPE, linkname="../../etc/passwd"), "outside the tree"),
        (_member("deep/up", tarfile.SYMTYPE, linkname="../../x"), "outside the tree"),
        (_member("hard", tarfile.LNKTYPE, linkname="../outside"), "climbs out of the tree"),
        (_member("hard", tarfile.LNKTYPE, linkname="/etc/shadow"), "absolute path"),
        (_member("hard", tarfile.LNKTYPE, linkname="not-there"), "which is not there"),
        (_member("null", tarfile.CHRTYPE, devmajor=1, devminor=3), "device node; refused"),
        (_member("sda", tarfile.BLKTYPE, devmajor=8, devminor=0), "device node; refused"),
        (_member("new\nline"), "newline"),
        (_member("bad-\udcff-utf8"), "not valid UTF-8"),
    ],
    ids=lambda v: v.name if isinstance(v, tarfile.TarInfo) else "",
)
def test_hostile_archive_refused(tmp_path: Path, member: tarfile.TarInfo, match: str) -> None:
    data = b"payload" if member.isreg() else b""
    _refused(tmp_path, [GOOD, (member, data)], match)


def test_absolute_symlink_kept_as_data_and_not_followed(tmp_path: Path) -> None:
    """A container's absolute link points inside its own root: kept, never followed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = _tar(
        tmp_path / "a.tar",
        [(_member("etc", tarfile.SYMTYPE, linkname=str(outside)), b"")],
    )
    create(archive, tmp_path / "a.fl", [f"dir://{tmp_path / STORE}"])
    extract(tmp_path / "a.fl", tmp_path / "out")
    assert (tmp_path / "out" / "etc").readlink() == outside
    assert list(outside.iterdir()) == []


def test_tar_bomb_stopped(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(4):
            info = _member(f"zeros{i}")
            info.size = 8 * 1024 * 1024
            tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert archive.stat().st_size < 200_000  # 32 MiB of zeros, highly compressed
    with pytest.raises(
        FlistError, match=r"expands past 20000000 bytes at .zeros2. \(a tar bomb\?\)"
    ):
        create(archive, tmp_path / "b.fl", [f"dir://{tmp_path / STORE}"], max_bytes=20_000_000)
    assert not (tmp_path / "b.fl").exists()


def test_damaged_archive_one_line(tmp_path: Path, tree: Path) -> None:
    archive = tmp_path / "t.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree / "large", arcname="large")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(FlistError) as info:
        create(archive, tmp_path / "t.fl", [f"dir://{tmp_path / STORE}"])
    assert "\n" not in str(info.value)


def _hostile_flist(tmp_path: Path, rows: list[tuple[object, ...]], links: dict[int, bytes]) -> Path:
    path = tmp_path / "evil.fl"
    Flist.create(path).close()
    conn = sqlite3.connect(path)
    conn.executemany("INSERT INTO inode VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    conn.executemany("INSERT INTO extra VALUES (?,?)", list(links.items()))
    conn.execute("INSERT INTO route VALUES (0, 255, ?)", (f"dir://{tmp_path / STORE}",))
    conn.commit()
    conn.close()
    return path


DIR = stat.S_IFDIR | 0o755
REG = stat.S_IFREG | 0o644
LNK = stat.S_IFLNK | 0o777


@pytest.mark.parametrize(
    ("rows", "links", "match"),
    [
        ([(2, 1, "..", 0, 0, 0, DIR, 0, 0, 0)], {}, "invalid entry name '..'"),
        ([(2, 1, "../escape", 0, 0, 0, REG, 0, 0, 0)], {}, "holds '/'"),
        ([(2, 1, "a/../../b", 0, 0, 0, REG, 0, 0, 0)], {}, "holds '/'"),
        ([(2, 1, "nl\nname", 0, 0, 0, REG, 0, 0, 0)], {}, "newline"),
        # a symlink and a directory of the same name: the second is refused, nothing is
        # written through the link
        (
            [
                (2, 1, "d", 0, 0, 0, LNK, 0, 0, 0),
                (3, 1, "d", 0, 0, 0, DIR, 0, 0, 0),
                (4, 3, "f", 0, 0, 0, REG, 0, 0, 0),
            ],
            {2: b"OUTSIDE"},
            "already exists",
        ),
    ],
    ids=["dotdot", "dotdot-slash", "slash", "newline", "link-then-dir"],
)
def test_hostile_flist_extract(
    tmp_path: Path, rows: list[tuple[object, ...]], links: dict[int, bytes], match: str
) -> None:
    outside = tmp_path / "OUTSIDE"
    outside.mkdir()
    links = {k: str(outside).encode() if v == b"OUTSIDE" else v for k, v in links.items()}
    fl = _hostile_flist(tmp_path, rows, links)
    with pytest.raises(FlistError, match=match):
        extract(fl, tmp_path / "out")
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escape").exists()


def test_block_not_matching_its_id(tmp_path: Path, tree: Path) -> None:
    store = tmp_path / STORE
    create(tree, tmp_path / "t.fl", [f"dir://{store}"])
    with Flist.open(tmp_path / "t.fl") as fl:
        ref = fl.blocks(fl.resolve("/large").ino)[0]
    path = store / ref.id.hex()[:2] / ref.id.hex()
    other = blocks.encode(b"something else entirely")[1]
    path.write_bytes(other)
    with pytest.raises(BlockError, match=f"block {ref.id.hex()}: stored bytes do not match"):
        extract(tmp_path / "t.fl", tmp_path / "out")


def test_extract_size_limit(tmp_path: Path, tree: Path) -> None:
    create(tree, tmp_path / "t.fl", [f"dir://{tmp_path / STORE}"])
    with pytest.raises(FlistError, match="more than the 1000 allowed"):
        extract(tmp_path / "t.fl", tmp_path / "out", max_bytes=1000)
    assert not (tmp_path / "out").exists()


def test_bad_names_in_a_directory_refused(tmp_path: Path, zdb_url: Callable[[], str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "fine").write_text("x")
    os.mkdir(os.fsencode(src) + b"/bad-\xff-name")
    with pytest.raises(FlistError, match="not valid UTF-8"):
        create(src, tmp_path / "t.fl", [zdb_url()])
    assert not (tmp_path / "t.fl").exists()
