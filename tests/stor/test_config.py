"""The configuration: 0-stor's layout, validated, with one clear line per problem."""

from __future__ import annotations

import pytest

from zeroos.stor import ConfigError, load_config, parse_config

GOOD = {
    "namespace": "myfiles",
    "datastor": {
        "shards": [
            {"address": f"127.0.0.1:{9900 + i}", "namespace": "s", "password": "p"}
            for i in range(6)
        ],
        "pipeline": {
            "block_size": 1048576,
            "compression": {"type": "zstd", "level": 3},
            "encryption": {"type": "aes-gcm", "private_key": "00" * 32},
            "distribution": {"data_shards": 4, "parity_shards": 2},
        },
    },
    "metastor": {"shards": [{"address": "127.0.0.1:9900", "namespace": "meta", "password": "p"}]},
}


def _with(path: str, value: object) -> dict:
    import copy

    cfg = copy.deepcopy(GOOD)
    node = cfg
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    node[last] = value
    return cfg


def test_good_config_and_defaults():
    cfg = parse_config(GOOD)
    assert cfg.datastor.pipeline.distribution.total == 6
    minimal = parse_config(
        {
            "namespace": "n",
            "datastor": {"shards": ["127.0.0.1:9900"]},
            "metastor": {"shards": ["127.0.0.1:9900"]},
        }
    )
    assert minimal.datastor.pipeline.compression.type == "zstd"
    assert minimal.datastor.pipeline.encryption.type == "none"
    assert minimal.resolve(minimal.datastor.shards[0]).namespace == "n"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "datastor.pipeline.encryption",
            {"type": "aes-gcm", "private_key": "abc"},
            "encryption private_key must be 64 hex characters",
        ),
        ("datastor.pipeline.encryption", {"type": "aes-gcm"}, "needs a private_key"),
        ("datastor.pipeline.compression", {"type": "gzip"}, "compression.type"),
        (
            "datastor.pipeline.distribution",
            {"data_shards": 5, "parity_shards": 2},
            "distribution needs 7 distinct datastor shards, only 6 configured",
        ),
        ("datastor.shards", ["localhost"], "is not host:port"),
        (
            "datastor.pipeline.chunking",
            {"type": "cdc", "min": 100, "avg": 3000, "max": 9000},
            "avg must be a power of two",
        ),
        ("datastor.pipeline.blocksize", 10, "blocksize: unknown setting"),
        ("namespace", "bad name!", "is not a namespace name"),
    ],
)
def test_bad_configs(path, value, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(_with(path, value), "zstor.yaml")
    assert str(info.value).startswith("zstor.yaml: ")
    assert "\n" not in str(info.value)


def test_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("namespace: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a YAML mapping"):
        load_config(bad)
