"""In-place edits land whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zeroos.flist.create import create
from zeroos.flist.edit import chmod, mkdir, put, remove
from zeroos.flist.errors import FlistError, StoreUnavailable
from zeroos.flist.format import Flist

from .conftest import free_port


def _tree(fl: Path) -> list[tuple[str, int, int]]:
    with Flist.open(fl) as f:
        return [(p, n.mode, n.size) for p, n in f.walk()]


def test_failed_put_changes_nothing(tree: Path, tmp_path: Path) -> None:
    fl = tmp_path / "t.fl"
    create(tree, fl, [f"dir://{tmp_path / 'blocks'}"])
    before = _tree(fl)
    new = tmp_path / "new.bin"
    new.write_bytes(os.urandom(300_000))
    dead = f"zdb://127.0.0.1:{free_port()}/x"
    with pytest.raises(StoreUnavailable, match="is unreachable"):
        put(fl, new, "/etc/hostname", store_urls=[dead], timeout=2.0)
    assert _tree(fl) == before


def test_edits_refuse_what_makes_no_sense(tree: Path, tmp_path: Path) -> None:
    fl = tmp_path / "t.fl"
    create(tree, fl, [f"dir://{tmp_path / 'blocks'}"])
    before = _tree(fl)
    with pytest.raises(FlistError, match="directory not empty"):
        remove(fl, "/etc")
    with pytest.raises(FlistError, match="no such file"):
        chmod(fl, "/nope", 0o644)
    with pytest.raises(FlistError, match="already exists"):
        mkdir(fl, "/etc")
    with pytest.raises(FlistError, match="parent directory missing"):
        mkdir(fl, "/a/b/c")
    with pytest.raises(FlistError, match="/etc/hostname is not a directory"):
        mkdir(fl, "/etc/hostname/x")
    with pytest.raises(FlistError, match="invalid entry name"):
        put(fl, tree / "empty", "/../escape")
    assert _tree(fl) == before


def test_put_replaces_and_keeps_the_rest(tree: Path, tmp_path: Path) -> None:
    fl = tmp_path / "t.fl"
    create(tree, fl, [f"dir://{tmp_path / 'blocks'}"])
    new = tmp_path / "hostname"
    new.write_text("node2\n")
    put(fl, new, "/etc/hostname")
    with Flist.open(fl) as f:
        node = f.resolve("/etc/hostname")
        assert node.size == 6
        assert f.hardlink_of(node.ino) is None  # a new file, not the old link any more
        assert f.resolve("/etc/secret").size == 6
