"""The pieces on their own: chunker, distribution, metadata encoding, backends, public API."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator

import pytest

import zeroos.stor
from zeroos.stor import MemoryBackend, ZdbBackend
from zeroos.stor.backend import Backend
from zeroos.stor.chunker import cdc_chunks, fixed_chunks
from zeroos.stor.config import ChunkingConfig, ShardConfig
from zeroos.stor.distribution import Distribution
from zeroos.stor.metadata import (
    ChunkRef,
    FileMeta,
    ObjectMeta,
    ShardLocation,
    decode_chunks,
    encode_chunks,
)

from .conftest import PASSWORD


def test_public_api():
    assert sorted(zeroos.stor.__all__) == zeroos.stor.__all__
    for name in zeroos.stor.__all__:
        assert getattr(zeroos.stor, name) is not None
    public = {n for n in dir(zeroos.stor) if not n.startswith("_")}
    modules = {
        "aio",
        "backend",
        "chunker",
        "client",
        "config",
        "distribution",
        "errors",
        "gc",
        "health",
        "layout",
        "metadata",
        "pipeline",
        "reader",
        "upload",
    }
    assert public - modules == set(zeroos.stor.__all__)


def test_fixed_chunks():
    assert list(fixed_chunks(io.BytesIO(b""), 4)) == []
    assert list(fixed_chunks(io.BytesIO(b"abcdefghij"), 4)) == [b"abcd", b"efgh", b"ij"]


def test_cdc_bounds_and_resync():
    cfg = ChunkingConfig(type="cdc", min=1024, avg=4096, max=16384)
    data = random.Random(1).randbytes(300_000)
    parts = list(cdc_chunks(io.BytesIO(data), cfg))
    assert b"".join(parts) == data
    assert all(1024 <= len(p) <= 16384 for p in parts[:-1])
    # an insertion near the start changes only the chunks around it
    shifted = list(cdc_chunks(io.BytesIO(data[:500] + b"INSERTED" + data[500:]), cfg))
    assert len(set(parts) & set(shifted)) >= len(parts) - 3


@pytest.mark.parametrize(("k", "m"), [(1, 0), (3, 0), (4, 2), (2, 1), (10, 4)])
def test_distribution_any_k_shards(k, m):
    dist = Distribution(k, m)
    payload = random.Random(k).randbytes(1001)
    shards = dist.split(payload)
    assert len(shards) == dist.total
    rng = random.Random(m)
    for _ in range(5):
        keep = rng.sample(range(dist.total), dist.need)
        assert dist.join({i: shards[i] for i in keep}, len(payload)) == payload


def test_metadata_roundtrip():
    fm = FileMeta("k", b"u" * 16, 5, 1, 2, 3, 1, b"h" * 32, {"a": "b"})
    assert FileMeta.decode("k", fm.encode()) == fm
    om = ObjectMeta(
        b"o" * 40, 1, 2, False, 4, 2, 10, 20, (ShardLocation("127.0.0.1:1/ns", b"d" * 16),)
    )
    assert ObjectMeta.decode(om.encode()) == om
    refs = [ChunkRef(b"x" * 40, 7), ChunkRef(b"y" * 40, 9)]
    assert decode_chunks(encode_chunks(refs)) == refs


@pytest.fixture(params=["memory", "zdb"])
def backend(request, cluster) -> Iterator[Backend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    name = f"conf{random.randrange(1 << 30)}"
    cluster.create(name, [0])
    shard = ShardConfig(
        address=f"127.0.0.1:{cluster.servers[0].port}", namespace=name, password=PASSWORD
    )
    b = ZdbBackend(shard, timeout=30)
    yield b
    b.close()


def test_backend_conformance(backend):
    """What zero-stor needs of a backend, for every implementation."""
    assert isinstance(backend, Backend)
    assert backend.get(b"k") is None
    backend.set(b"k", b"v1")
    backend.set(b"k", b"v2")
    backend.set(b"\x00\xff", b"")
    assert backend.get(b"k") == b"v2"
    assert backend.get(b"\x00\xff") == b""
    assert backend.mget([b"k", b"missing", b"\x00\xff"]) == [b"v2", None, b""]
    assert sorted(k for k, _ in backend.scan()) == [b"\x00\xff", b"k"]
    assert all(t > 0 for _, t in backend.scan())
    backend.delete(b"k")
    backend.delete(b"k")  # missing: not an error
    assert backend.get(b"k") is None
    assert [k for k, _ in backend.scan()] == [b"\x00\xff"]
