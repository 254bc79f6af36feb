"""zero-stor as an flist store: blocks spread over real zero-dbs, checked and repaired."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.stor.conftest import Cluster, config_dict
from zeroos.flist.check import check
from zeroos.flist.create import create
from zeroos.flist.extract import extract
from zeroos.flist.stores import open_store

from .conftest import snapshot


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "cluster", 3)
    yield c
    c.stop()


def _config(cluster: Cluster, tmp_path: Path) -> tuple[Path, str]:
    cfg = config_dict(
        cluster,
        pipeline={
            "block_size": 65536,
            # given on purpose: the flist store turns them off (blocks are sealed already)
            "compression": {"type": "zstd", "level": 3},
            "encryption": {"type": "aes-gcm", "private_key": "ab" * 32},
            "distribution": {"data_shards": 2, "parity_shards": 1},
        },
    )
    path = tmp_path / "zstor.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, str(cfg["namespace"])


def test_zstor_roundtrip_check_repair(cluster: Cluster, tree: Path, tmp_path: Path) -> None:
    config, namespace = _config(cluster, tmp_path)
    url = f"zstor://{config}"
    store = open_store(url)
    try:
        pipeline = store._stor.config.datastor.pipeline  # type: ignore[attr-defined]
        assert (pipeline.compression.type, pipeline.encryption.type) == ("none", "none")
    finally:
        store.close()
    report = create(tree, tmp_path / "t.fl", [url])
    assert report.upload.stored_blocks > 0
    assert create(tree, tmp_path / "t2.fl", [url]).upload.stored_blocks == 0
    extract(tmp_path / "t.fl", tmp_path / "out", devices=True)
    assert snapshot(tmp_path / "out") == snapshot(tree)
    assert check(str(tmp_path / "t.fl")).healthy

    cluster.wipe(1)  # one server loses every shard: still readable, degraded
    damaged = check(str(tmp_path / "t.fl"))
    assert not damaged.healthy
    assert any("degraded" in line for line in damaged.problems)
    # its namespace is gone with it: nowhere to rebuild, the problems stay
    assert len(check(str(tmp_path / "t.fl"), repair=True).problems) == len(damaged.problems)
    cluster.create(namespace, [1])
    repaired = check(str(tmp_path / "t.fl"), repair=True)
    assert repaired.repaired == repaired.blocks == damaged.blocks
    assert check(str(tmp_path / "t.fl")).healthy
    extract(tmp_path / "t.fl", tmp_path / "out2", devices=True)
    assert snapshot(tmp_path / "out2") == snapshot(tree)
