"""`zos flist` through a real subprocess: every command, its output, one-line errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import snapshot


def zos(*args: str | Path, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    # HOME: the default block id cache (~/.cache/zos) goes to a folder the test removes
    env = {**os.environ, "COLUMNS": "200", "HOME": str(HOME)}
    return subprocess.run(
        [sys.executable, "-m", "zeroos.cli", "flist", *map(str, args)],
        capture_output=True,
        input=input,
        timeout=120,
        env=env,
    )


HOME = Path("/nonexistent")  # set by _home while this module's tests run


@pytest.fixture(autouse=True, scope="module")
def _home() -> Iterator[None]:
    # made here, not at import: every xdist worker imports this module to collect it, and
    # only the one that runs it removes the folder afterwards
    global HOME
    HOME = Path(tempfile.mkdtemp(prefix="flist-cli-home-"))
    yield
    shutil.rmtree(HOME, ignore_errors=True)


def ok(*args: str | Path) -> str:
    out = zos(*args)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode()


def test_read_commands(tree: Path, tmp_path: Path) -> None:
    fl = tmp_path / "t.fl"
    store = f"dir://{tmp_path / 'blocks'}"
    assert "9 files" in ok("create", tree, "-o", fl, "--store", store, "-t", "version=1.2")

    listing = ok("ls", fl, "/")
    assert "-rwsr-xr-x" in ok("ls", fl, "/bin")
    assert "rel-link -> etc/hostname" in listing
    assert "etc" in listing
    found = ok("find", fl, "--type", "f", "--name", "*host*").split()
    assert found == ["/etc/hostname", "/hostname-link"]
    assert "/deep/a/b/c/leaf" in ok("find", fl, "/deep").split()
    stat_out = ok("stat", fl, "/etc/secret")
    assert "mode: 0600" in stat_out
    assert "size: 6" in stat_out
    assert zos("cat", fl, "/large").stdout == (tree / "large").read_bytes()
    assert ok("tag", "get", fl, "version") == "1.2\n"
    info = ok("info", fl)
    assert "files" in info
    assert f"00-ff {store}" in info

    # a missing path, a directory to cat: one line, non-zero
    for args in (("cat", fl, "/nope"), ("cat", fl, "/etc"), ("stat", fl, "/etc/nope/x")):
        out = zos(*args)
        assert out.returncode == 1
        assert out.stderr.decode().count("\n") == 1
        assert out.stderr.startswith(b"error: ")


def test_edit_commands(tree: Path, tmp_path: Path) -> None:
    fl = tmp_path / "t.fl"
    store = f"dir://{tmp_path / 'blocks'}"
    ok("create", tree, "-o", fl, "--store", store)
    extra = tmp_path / "extra.txt"
    extra.write_bytes(os.urandom(700_000))
    ok("put", fl, extra, "/opt/new/extra.txt")
    ok("put", fl, tree / "deep", "/copy-of-deep")
    ok("mkdir", fl, "/srv/www", "--parents", "--mode", "750")
    ok("chmod", fl, "600", "/etc/hostname")
    ok("rm", fl, "/pipe")
    assert zos("rm", fl, "/deep").returncode == 1  # not empty without -r
    ok("rm", fl, "-r", "/deep")
    ok("tag", "set", fl, "description", "edited")
    ok("tag", "rm", fl, "description")
    assert zos("tag", "get", fl, "description").returncode == 1

    out = tmp_path / "out"
    ok("extract", fl, out, "--devices")
    assert (out / "opt" / "new" / "extra.txt").read_bytes() == extra.read_bytes()
    assert (out / "copy-of-deep" / "a" / "b" / "c" / "leaf").read_text() == "leaf"
    assert oct(os.stat(out / "srv" / "www").st_mode & 0o7777) == "0o750"
    assert oct(os.stat(out / "etc" / "hostname").st_mode & 0o7777) == "0o600"
    assert not (out / "pipe").exists()
    assert not (out / "deep").exists()

    before = tmp_path / "before.fl"
    ok("create", tree, "-o", before, "--store", store)
    changes = zos("diff", before, fl)
    assert changes.returncode == 1
    lines = changes.stdout.decode().splitlines()
    assert "- /pipe" in lines
    assert "+ /opt/new/extra.txt" in lines
    assert any(line.startswith("M /etc/hostname (mode") for line in lines)
    assert zos("diff", before, before).stdout == b""


def test_check_finds_and_repairs(tree: Path, tmp_path: Path) -> None:
    fl = tmp_path / "t.fl"
    a, b = tmp_path / "a", tmp_path / "b"
    ok("create", tree, "-o", fl, "--store", f"dir://{a}", "--store", f"dir://{b}")
    assert "0 problems" in ok("check", fl)
    victims = sorted(p for p in a.rglob("*") if p.is_file())
    victims[0].unlink()
    victims[1].write_bytes(b"flipped" + victims[1].read_bytes()[7:])
    out = zos("check", fl)
    assert out.returncode == 1
    assert "2 problems" in out.stdout.decode()
    assert "is not in store" in out.stderr.decode()
    assert "do not match the block's id" in out.stderr.decode()
    assert "2 repaired" in ok("check", fl, "--repair")
    assert "0 problems" in ok("check", fl)
    ok("extract", fl, tmp_path / "out", "--devices")
    assert snapshot(tmp_path / "out") == snapshot(tree)
