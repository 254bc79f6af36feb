"""README's mount example (the flists section) runs as written, as root, on a real FUSE mount."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from zeroos.flist.create import create
from zeroos.flist.mount.system import mounted_at

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _mount_example() -> str:
    match = re.search(
        r"\(\[docs/flist-mount\.md\]\(docs/flist-mount\.md\)\):\n\n((?:    .*\n)+)", README
    )
    assert match, "README's flists section has no mount example"
    return "\n".join(line[4:] for line in match.group(1).splitlines())


def test_readme_mount_example(tmp_path: Path) -> None:
    if os.geteuid() != 0 or not Path("/dev/fuse").exists():
        pytest.skip("needs root and /dev/fuse")
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "bin").mkdir()
    (rootfs / "etc" / "motd").write_text("hello\n")
    (rootfs / "bin" / "motd").symlink_to("../etc/motd")
    create(rootfs, tmp_path / "app.fl", [f"dir://{tmp_path}/blocks"])
    mnt = tmp_path / "mnt" / "app"
    mnt.mkdir(parents=True)
    script = (
        _mount_example()
        .replace("/mnt/app", str(mnt))
        .replace("/var/cache/zos/blocks", str(tmp_path / "cache"))
        .replace("/var/lib/app-changes", str(tmp_path / "changes"))
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    try:
        out = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=env,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[-1] == "hello"  # cat through the symlink
        assert any(
            line.endswith(" motd") and line.startswith("-rw") for line in out.stdout.splitlines()
        )
        # the last line left a writable mount: a change lands in the changes folder
        (mnt / "etc" / "new").write_text("changed")
        assert (tmp_path / "changes" / "upper" / "etc" / "new").read_text() == "changed"
    finally:
        if mounted_at(mnt) is not None:
            subprocess.run([sys.executable, "-m", "zeroos.cli", "flist", "umount", str(mnt)],
                           check=False, timeout=60)  # fmt: skip
        for path in (mnt, tmp_path / "changes" / "lower"):
            while os.path.ismount(path):
                subprocess.run(["umount", "-l", str(path)], check=False)
