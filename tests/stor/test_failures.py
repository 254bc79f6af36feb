"""Failure is the normal case: servers killed or wiped, shards corrupted, namespaces full."""

from __future__ import annotations

import io
import random

import pytest

from zeroos.stor import (
    AccessDenied,
    DecryptionError,
    ShardUnavailable,
    Stor,
    StorFull,
    parse_config,
)

from .conftest import KEY, PASSWORD, config_dict

_rng = random.Random(7)
DATA = (b"some text that compresses " * 5000) + _rng.randbytes(250_000)


def _stor(cfg: dict) -> Stor:
    return Stor(parse_config(cfg))


def test_kill_and_wipe_m_servers(own_cluster):
    cluster = own_cluster(6)
    cfg = config_dict(cluster)
    with _stor(cfg) as stor:
        stor.put("a", DATA)
        stor.put("b", b"tiny")
    cluster.kill(1)
    cluster.wipe(4)  # restarted empty: its namespaces are gone too
    with _stor(cfg) as stor:
        assert stor.read("a") == DATA
        assert stor.read("b") == b"tiny"
        assert stor.check("a").status == "degraded"
        # nowhere to rebuild: every healthy server already holds a shard of each block
        stuck = stor.repair("a")
        assert (stuck.before, stuck.after, stuck.shards_rebuilt) == ("degraded", "degraded", 0)
        # the first reason met: the dead server's, or the wiped namespace's; each names a fix
        assert any(
            fix in stuck.reason for fix in ("start the missing servers", "create it (NSNEW)")
        ), stuck.reason
        # a third loss would be too many for 4+2
        cluster.kill(2)
        assert stor.check("b").status == "lost"
    # the operator recreates the wiped namespace and restarts the dead servers; repair
    cluster.create(cfg["namespace"], [4])
    cluster.servers[1].start()
    cluster.servers[2].start()
    with _stor(cfg) as stor:
        result = stor.repair("a")
        assert (result.before, result.after) == ("degraded", "optimal")
        assert result.shards_rebuilt > 0
        assert stor.check("a").status == "optimal"
        assert stor.repair("b").after == "optimal"
    # now two other servers may go (server 0 holds the metastor)
    cluster.kill(3)
    cluster.kill(5)
    with _stor(cfg) as stor:
        assert stor.read("a") == DATA


def test_repair_moves_shards_to_spare_servers(own_cluster):
    cluster = own_cluster(8)  # two die: six live servers remain for 4+2
    cfg = config_dict(cluster)
    with _stor(cfg) as stor:
        stor.put("a", DATA)
    cluster.kill(1)
    cluster.kill(5)
    with _stor(cfg) as stor:
        assert stor.check("a").status == "degraded"
        result = stor.repair("a")
        assert result.after == "optimal"
        assert stor.check("a").status == "optimal"
    cluster.kill(2)  # a third server: still readable after the repair
    with _stor(cfg) as stor:
        assert stor.read("a") == DATA


def _a_shard(cluster, cfg) -> tuple[int, bytes]:
    for i in range(len(cluster.servers)):
        keys = cluster.keys(i, cfg["namespace"])
        if keys:
            return i, keys[0]
    raise AssertionError("no shard found")


def test_corrupt_shard_by_set(make_stor, cluster):
    cfg = config_dict(cluster)
    stor = make_stor(cfg)
    stor.put("a", DATA)
    i, key = _a_shard(cluster, cfg)
    with cluster.client(i, cfg["namespace"]) as c:
        good = c.get(key)
        assert good is not None
        c.set(key, bytes([good[0] ^ 1]) + good[1:])  # always a change: one bit flipped
    assert stor.read("a") == DATA  # the bad shard is detected and never used
    check = stor.check("a")
    assert (check.status, check.bad_shards) == ("degraded", 1)
    assert stor.repair("a").shards_rebuilt == 1
    assert stor.check("a").status == "optimal"
    with cluster.client(i, cfg["namespace"]) as c:
        assert c.get(key) == good


@pytest.mark.parametrize("encryption", ["aes-gcm", "convergent", "none"])
def test_corrupt_data_shards_fall_back_to_parity(make_stor, cluster, encryption):
    # downloads skip the shard hashes while the block decodes; a flipped data shard must
    # still be found (tag or block id), set aside by its hash, and replaced by parity
    enc: dict[str, str] = {"type": encryption}
    if encryption != "none":
        enc["private_key"] = KEY
    cfg = config_dict(
        cluster,
        pipeline={
            "block_size": 65536,
            "compression": {"type": "none"},
            "encryption": enc,
            "distribution": {"data_shards": 4, "parity_shards": 2},
        },
    )
    stor = make_stor(cfg)
    stor.put("a", DATA)
    flipped = 0
    for i in range(len(cluster.servers)):
        data_keys = [k for k in cluster.keys(i, cfg["namespace"]) if k[-1] < 4]
        if not data_keys:
            continue
        with cluster.client(i, cfg["namespace"]) as c:
            for key in data_keys:  # at most one shard of a block lives on each server
                value = c.get(key)
                assert value is not None
                c.set(key, value[:-1] + bytes([value[-1] ^ 1]))
                flipped += 1
        break
    assert flipped
    assert stor.read("a") == DATA
    assert stor.check("a").bad_shards == flipped


def test_corrupt_shard_on_disk(own_cluster):
    cluster = own_cluster(6)
    cfg = config_dict(
        cluster,
        pipeline={
            "block_size": 65536,
            "compression": {"type": "none"},
            "encryption": {"type": "aes-gcm", "private_key": KEY},
            "distribution": {"data_shards": 4, "parity_shards": 2},
        },
    )
    with _stor(cfg) as stor:
        stor.put("a", DATA)
    i, key = _a_shard(cluster, cfg)
    with cluster.client(i, cfg["namespace"]) as c:
        value = c.get(key)
    assert value is not None
    server = cluster.servers[i]
    server.stop()
    flipped = 0
    for path in (server.datadir / cfg["namespace"]).rglob("*"):
        if path.is_file():
            raw = bytearray(path.read_bytes())
            at = raw.find(value[:64])
            if at >= 0:
                raw[at + 100] ^= 0xFF
                path.write_bytes(bytes(raw))
                flipped += 1
    assert flipped == 1
    server.start()
    with _stor(cfg) as stor:
        assert stor.read("a") == DATA
        assert stor.check("a").status == "degraded"
        assert stor.repair("a").after == "optimal"
        assert stor.check("a").status == "optimal"


def test_full_namespace_moves_to_another_shard(cluster, make_stor):
    # 7 namespaces for 4+2: one is nearly full, so its shards go to the spare
    cfg = config_dict(cluster, servers=[0, 1, 2, 3, 4, 5])
    name = cfg["namespace"]
    with cluster.admin(2) as c:
        c.nsset(name, "maxsize", 1000)
    # add a seventh namespace on server 0 (another name) as the spare
    spare = name + "spare"
    cluster.create(spare, [0])
    cfg["datastor"]["shards"].append(
        {"address": f"127.0.0.1:{cluster.servers[0].port}", "namespace": spare}
    )
    stor = make_stor(cfg)
    stor.put("a", DATA)
    assert stor.read("a") == DATA
    assert stor.check("a").status == "optimal"


def test_full_everywhere_is_one_clear_error(cluster, make_stor):
    cfg = config_dict(cluster, maxsize=20_000)
    stor = make_stor(cfg)
    with pytest.raises(StorFull, match="full") as info:
        stor.put("a", io.BytesIO(DATA))
    assert "\n" not in str(info.value)
    assert not stor.exists("a")  # nothing half-written is visible


def test_interrupted_upload_is_invisible_and_collected(make_stor, cluster):
    cfg = config_dict(cluster)
    stor = make_stor(cfg)

    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            # after the first groups of blocks are stored (two groups of 4 x 64 KiB are in
            # flight: hashed, then stored)
            if self.sent > 1_000_000:
                raise OSError("disk on fire")
            self.sent += n
            return _rng.randbytes(n)

    with pytest.raises(OSError, match="disk on fire"):
        stor.put("a", Broken())
    assert not stor.exists("a")
    assert stor.list() == []
    assert stor.gc() > 0
    assert all(cluster.keys(i, cfg["namespace"]) == [] for i in range(6))


def test_wrong_keys(make_stor, cluster):
    cfg = config_dict(cluster, meta_encryption=True)
    make_stor(cfg).put("a", b"secret data")
    wrong = {
        **cfg,
        "datastor": {
            **cfg["datastor"],
            "pipeline": {
                **cfg["datastor"]["pipeline"],
                "encryption": {"type": "aes-gcm", "private_key": "11" * 32},
            },
        },
    }
    with pytest.raises(DecryptionError, match="wrong encryption private_key"):
        make_stor(wrong).read("a")
    wrong_meta = {
        **cfg,
        "metastor": {
            **cfg["metastor"],
            "encryption": {"type": "aes-gcm", "private_key": "22" * 32},
        },
    }
    with pytest.raises(DecryptionError, match="wrong metastor private_key"):
        make_stor(wrong_meta).metadata("a")


def test_wrong_password_and_unreachable(make_stor, cluster):
    cfg = config_dict(cluster)
    cfg["password"] = PASSWORD + "x"
    with pytest.raises(AccessDenied, match="check its password"):
        make_stor(cfg).put("a", b"x")
    cfg = config_dict(cluster)
    cfg["metastor"]["shards"][0]["address"] = "127.0.0.1:1"
    with pytest.raises(ShardUnavailable, match=r"127\.0\.0\.1:1/.* is unreachable"):
        make_stor(cfg).exists("a")
