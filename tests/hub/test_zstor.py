"""zero-hub with its blocks on zero-stor (three real zero-dbs, 2 data + 1 parity shards)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from tests.stor.conftest import Cluster, config_dict
from zeroos.flist.extract import extract
from zeroos.hub import HubClient

from .conftest import Hub, make_archive, register, start_hub


def test_upload_and_fetch_through_zero_stor(hub: Hub, tmp_path: Path) -> None:
    cluster = Cluster(tmp_path / "cluster", 3)
    child = None
    try:
        cfg = config_dict(cluster, pipeline={"block_size": 65536, "distribution":
                                             {"data_shards": 2, "parity_shards": 1}})  # fmt: skip
        (tmp_path / "zstor.yaml").write_text(yaml.safe_dump(cfg))
        child = start_hub(tmp_path / "stor-hub", hub.id_url, f"zstor://{tmp_path / 'zstor.yaml'}")
        files: dict[str, bytes] = {"a": os.urandom(300_000), "b/c": b"small"}
        token = register(hub, "storuser")
        with HubClient(f"http://127.0.0.1:{child.port}", token=token) as client:
            first: dict[str, Any] = client.upload(make_archive(tmp_path / "s.tar.gz", files))
            assert first["blocks_new"] >= 2
            client.download("storuser", "s.fl", tmp_path / "s.fl")
        cluster.wipe(1)  # one server loses its shards: the flist still reads back
        extract(tmp_path / "s.fl", tmp_path / "out")
        for name, content in files.items():
            assert (tmp_path / "out" / name).read_bytes() == content
    finally:
        if child is not None:
            child.stop()
        cluster.stop()
