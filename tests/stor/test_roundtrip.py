"""Round trips through every pipeline setting, on real zero-db servers."""

from __future__ import annotations

import asyncio
import io
import os
import random

import pytest

from zeroos.stor import AsyncStor, FileNotFound, StorError, parse_config

from .conftest import KEY, config_dict

_rng = random.Random(5)
CASES = {
    "empty": b"",
    "one-byte": b"x",
    "small": b"hello zero-stor\n" * 10,
    "random": _rng.randbytes(200_000),
    "large-mixed": (b"compressible text line\n" * 20_000) + _rng.randbytes(300_000),
}


def _pipeline(compression: str, encryption: str, k: int, m: int, **extra: object) -> dict:
    enc: dict[str, object] = {"type": encryption}
    if encryption != "none":
        enc["private_key"] = KEY
    return {
        "block_size": 65536,
        "compression": {"type": compression, "level": 3},
        "encryption": enc,
        "distribution": {"data_shards": k, "parity_shards": m},
        **extra,
    }


def _roundtrip(stor) -> None:
    for name, data in CASES.items():
        meta = stor.put(name, io.BytesIO(data))
        assert meta.size == len(data)
        assert stor.read(name) == data, name
        with stor.get(name) as stream:
            assert stream.read() == data


@pytest.mark.parametrize("compression", ["zstd", "lz4", "snappy", "none"])
@pytest.mark.parametrize("encryption", ["aes-gcm", "convergent", "none"])
def test_codecs(make_stor, compression, encryption):
    _roundtrip(make_stor(pipeline=_pipeline(compression, encryption, 4, 2)))


@pytest.mark.parametrize(("k", "m"), [(1, 0), (3, 0), (2, 1), (4, 2), (1, 2)])
def test_distributions(make_stor, k, m):
    _roundtrip(make_stor(pipeline=_pipeline("zstd", "aes-gcm", k, m)))


def test_content_defined_chunking(make_stor):
    chunking = {"type": "cdc", "min": 2048, "avg": 8192, "max": 32768}
    stor = make_stor(pipeline=_pipeline("lz4", "convergent", 2, 1, chunking=chunking))
    data = _rng.randbytes(150_000)
    stor.put("a", data)
    assert stor.read("a") == data
    assert stor.metadata("a").chunks > 5


def test_encrypted_metadata_and_user_fields(make_stor, cluster):
    cfg = config_dict(cluster, meta_encryption=True)
    stor = make_stor(cfg)
    stor.put("dir/file.txt", b"data", user={"owner": "me"})
    meta = stor.metadata("dir/file.txt")
    assert meta.user == {"owner": "me"}
    assert [m.key for m in stor.list()] == ["dir/file.txt"]
    # the metadata values on zero-db are ciphertext
    name = cfg["metastor"]["shards"][0]["namespace"]
    with cluster.client(0, name) as c:
        raw = c.get(cfg["namespace"] + "/f:dir/file.txt")
    assert raw is not None
    assert b"owner" not in raw


def test_overwrite_replaces_and_frees(make_stor, cluster):
    cfg = config_dict(cluster)
    stor = make_stor(cfg)
    stor.put("k", _rng.randbytes(100_000))
    first = sum(len(cluster.keys(i, cfg["namespace"])) for i in range(6))
    stor.put("k", b"new")
    assert stor.read("k") == b"new"
    after = sum(len(cluster.keys(i, cfg["namespace"])) for i in range(6))
    assert after == 6 < first  # one block of 4+2 shards... for 3 bytes, 6 tiny shards


def test_missing_file(make_stor):
    stor = make_stor()
    assert not stor.exists("nope")
    with pytest.raises(FileNotFound, match="no file stored under key 'nope'"):
        stor.get("nope")
    with pytest.raises(FileNotFound):
        stor.delete("nope")


def test_large_stream_window(make_stor):
    """More blocks than the in-flight window, read back in small reads."""
    stor = make_stor(pipeline=_pipeline("none", "aes-gcm", 2, 1, block_size=4096))
    data = os.urandom(4096 * 50 + 17)
    stor.put("big", data)
    out = bytearray()
    with stor.get("big") as stream:
        while chunk := stream.read(1000):
            out += chunk
    assert out == data


def test_async(cluster):
    cfg = parse_config(config_dict(cluster))

    async def main() -> None:
        async with AsyncStor(cfg) as stor:

            async def source():
                for _ in range(10):
                    yield b"0123456789" * 10_000

            meta = await stor.put("a", source())
            assert meta.size == 1_000_000
            parts = [b async for b in await stor.get("a")]
            assert b"".join(parts) == b"0123456789" * 100_000
            assert await stor.exists("a")
            assert (await stor.check("a")).status == "optimal"
            await stor.delete("a")
            assert not await stor.exists("a")

    asyncio.run(main())


def test_async_put_of_a_source_that_fails_stores_nothing(cluster):
    cfg = parse_config(config_dict(cluster))

    async def main() -> None:
        async with AsyncStor(cfg) as stor:

            async def source():
                for _ in range(20):  # more chunks than the pipe holds
                    yield b"x" * 65536
                raise ConnectionResetError("the source went away")

            with pytest.raises(ConnectionResetError, match="went away"):
                await asyncio.wait_for(stor.put("cut", source()), timeout=60)
            assert not await stor.exists("cut")  # not a truncated file stored as whole

    asyncio.run(main())


def test_async_put_that_fails_stops_reading_its_source(cluster):
    cfg = parse_config(config_dict(cluster))
    taken = 0

    async def main() -> None:
        nonlocal taken
        async with AsyncStor(cfg) as stor:

            async def source():
                nonlocal taken
                for _ in range(1000):
                    taken += 1
                    yield b"y" * 65536

            with pytest.raises(StorError, match="longer than 200 bytes"):
                await asyncio.wait_for(stor.put("k" * 300, source()), timeout=60)

    asyncio.run(main())
    assert taken < 100  # it stopped at the put's error, it did not drain the source
