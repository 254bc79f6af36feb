"""Deduplication, deletes that keep shared blocks, and concurrent writers."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from functools import partial

from .conftest import KEY, config_dict

_rng = random.Random(11)
BLOCK = 65536


def _blocks(n: int) -> list[bytes]:
    return [_rng.randbytes(BLOCK) for _ in range(n)]


def _shard_count(cluster, cfg) -> int:
    return sum(len(cluster.keys(i, cfg["namespace"])) for i in range(len(cluster.servers)))


def test_dedup_across_files_and_shared_delete(make_stor, cluster):
    cfg = config_dict(cluster)
    stor = make_stor(cfg)
    a, b, c = _blocks(3)
    stor.put("one", a + b)
    assert _shard_count(cluster, cfg) == 2 * 6
    stor.put("two", b + c + a)  # only c is new
    assert _shard_count(cluster, cfg) == 3 * 6
    stor.put("three", a + a + a)  # repeated inside one file: stored once
    assert _shard_count(cluster, cfg) == 3 * 6
    stor.delete("one")
    assert _shard_count(cluster, cfg) == 3 * 6  # a and b are still used
    assert stor.read("two") == b + c + a
    stor.delete("two")
    assert _shard_count(cluster, cfg) == 1 * 6  # only a (used by three) stays
    assert stor.read("three") == a * 3
    stor.delete("three")
    assert _shard_count(cluster, cfg) == 0
    with cluster.client(0, cfg["namespace"] + "m") as meta:
        assert meta.dbsize() == 0


def test_repeats_across_groups_and_batches(make_stor, cluster):
    # blocks are hashed a group ahead and read in batches of `workers` (4 here): a block that
    # repeats inside a group, across groups, and inside a read batch is stored and fetched once
    cfg = config_dict(cluster)
    stor = make_stor(cfg)
    a, *rest = _blocks(9)
    order = [a, rest[0], a, rest[1], rest[2], a, rest[3], rest[4], rest[5], rest[6], a, rest[7], a]
    data = b"".join(order) + b"tail"
    meta = stor.put("f", data)
    assert meta.chunks == len(order) + 1
    assert _shard_count(cluster, cfg) == (len(rest) + 2) * 6
    assert stor.read("f") == data
    with stor.get("f") as stream:
        assert stream.read(10) == a[:10]  # a raw stream: one block at most per read
        assert stream.read() == data[10:]


def test_convergent_dedups_between_clients(make_stor, cluster):
    pipeline = {
        "block_size": BLOCK,
        "encryption": {"type": "convergent", "private_key": KEY},
        "distribution": {"data_shards": 2, "parity_shards": 1},
    }
    cfg = config_dict(cluster, pipeline=pipeline)
    first, second = make_stor(cfg), make_stor(cfg)
    data = b"".join(_blocks(4))
    first.put("x", data)
    before = _shard_count(cluster, cfg)
    second.put("y", data[BLOCK:] + data[:BLOCK])
    assert _shard_count(cluster, cfg) == before
    assert second.read("x") == data


def test_concurrent_writers_and_deleters(make_stor, cluster):
    cfg = config_dict(
        cluster,
        pipeline={
            "block_size": BLOCK,
            "compression": {"type": "lz4"},
            "encryption": {"type": "aes-gcm", "private_key": KEY},
            "distribution": {"data_shards": 4, "parity_shards": 2},
        },
    )
    common = _blocks(6)
    files = {
        f"f{w}-{i}": b"".join(random.Random(w * 100 + i).sample(common, 4)) + bytes([w, i])
        for w in range(4)
        for i in range(3)
    }
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        stor = make_stor(cfg)  # each writer its own client, as separate processes would
        try:
            for i in range(3):
                stor.put(f"f{w}-{i}", files[f"f{w}-{i}"])
                stor.put(f"tmp{w}-{i}", common[i] + common[i + 1])
                stor.delete(f"tmp{w}-{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stor = make_stor(cfg)
    assert sorted(m.key for m in stor.list()) == sorted(files)
    for key, data in files.items():
        assert stor.read(key) == data
        assert stor.check(key).status == "optimal"
    for key in files:
        stor.delete(key)
    assert _shard_count(cluster, cfg) == 0


def _race(*jobs: Callable[[], object]) -> list[BaseException]:
    """Run the jobs on threads released at once; the errors they raised."""
    start = threading.Barrier(len(jobs), timeout=60)
    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        try:
            start.wait()
            job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_puts_of_one_key(make_stor, cluster):
    cfg = config_dict(cluster)
    writers = [make_stor(cfg), make_stor(cfg)]  # two clients, as two processes would be
    for r in range(40):
        values = [_rng.randbytes(BLOCK + r) for _ in writers]
        puts = [partial(w.put, "k", v) for w, v in zip(writers, values, strict=True)]
        assert _race(*puts) == [], f"round {r}"
        assert writers[0].read("k") in values, f"round {r}"
    # what the loser of a race wrote is garbage once the winner's record replaced it
    writers[0].gc()
    writers[0].delete("k")
    assert _shard_count(cluster, cfg) == 0


def test_concurrent_put_and_delete_of_one_key(make_stor, cluster):
    cfg = config_dict(cluster)
    writer, deleter = make_stor(cfg), make_stor(cfg)
    for r in range(20):
        writer.put("k", _rng.randbytes(BLOCK))
        new = _rng.randbytes(BLOCK + 1)
        # both read the same version as the one they replace or remove, and both free it
        assert _race(partial(writer.put, "k", new), partial(deleter.delete, "k")) == [], r
        assert not writer.exists("k") or writer.read("k") == new, f"round {r}"
    writer.gc()
    if writer.exists("k"):
        writer.delete("k")
    assert _shard_count(cluster, cfg) == 0
