"""A flist served by zero-hub, mounted with `zos flist mount` (FUSE, as root) and read back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.flist_mount.conftest import MountProcess

from .conftest import Hub, make_archive


def test_a_served_flist_mounts_and_reads_back(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    if os.geteuid() != 0 or not Path("/dev/fuse").exists():
        pytest.skip("mounting needs root and /dev/fuse")
    alice = new_user()
    files = {"etc/motd": b"from the hub\n", "lib/blob": os.urandom(700_000)}
    with alice.client() as client:
        client.upload(make_archive(tmp_path / "rootfs.tar.gz", files))
        client.download(alice.name, "rootfs.fl", tmp_path / "rootfs.fl")
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    mount = MountProcess(tmp_path / "rootfs.fl", mountpoint, tmp_path / "cache")
    try:
        for name, content in files.items():
            assert (mountpoint / name).read_bytes() == content
        assert sorted(os.listdir(mountpoint)) == ["etc", "lib"]
    finally:
        mount.stop()
