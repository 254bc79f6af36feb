"""Both zero-stor clients, one suite: every test runs on :class:`Stor` and on :class:`AsyncStor`
(through :class:`Caller`, which awaits the async one's coroutines on an event loop of its own),
against the shared cluster of real zero-db servers."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from zeroos.stor import AsyncStor, FileNotFound, Stor, parse_config

from .conftest import KEY, config_dict


class Caller:
    """A zero-stor client (sync or async) with blocking methods."""

    def __init__(self, kind: str, config: Any) -> None:
        self.loop = asyncio.new_event_loop() if kind == "async" else None
        self.client: Stor | AsyncStor = AsyncStor(config) if kind == "async" else Stor(config)

    def _run(self, awaitable: Any) -> Any:
        assert self.loop is not None
        return self.loop.run_until_complete(awaitable)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            return self._run(result) if inspect.isawaitable(result) else result

        return call

    def blocks(self, key: str) -> list[bytes]:
        """The stored file's blocks, in order, as each client streams them."""
        if isinstance(self.client, AsyncStor):
            client = self.client

            async def collect() -> list[bytes]:
                return [block async for block in await client.get(key)]

            return self._run(collect())  # type: ignore[no-any-return]
        with self.client.get(key) as stream:
            return list(stream.iter_blocks())

    def dispose(self) -> None:
        if isinstance(self.client, AsyncStor):
            self._run(self.client.aclose())
            assert self.loop is not None
            self.loop.close()
        else:
            self.client.close()


@pytest.fixture(params=["sync", "async"])
def connect(request: pytest.FixtureRequest, cluster) -> Iterator[Callable[..., Caller]]:
    """Make clients of this test's kind on the shared cluster; each is closed at the end."""
    made: list[Caller] = []

    def make(**kwargs: Any) -> Caller:
        made.append(Caller(request.param, parse_config(config_dict(cluster, **kwargs))))
        return made[-1]

    yield make
    for caller in made:
        caller.dispose()


def test_put_read_stream_list_delete(connect):
    stor = connect(
        pipeline={
            "block_size": 4096,
            "compression": {"type": "zstd", "level": 3},
            "encryption": {"type": "aes-gcm", "private_key": KEY},
            "distribution": {"data_shards": 2, "parity_shards": 1},
        }
    )
    data = bytes(range(256)) * 100  # 25,600 bytes: seven blocks
    meta = stor.put("dir/a", data, user={"owner": "me"})
    assert (meta.key, meta.size, meta.user) == ("dir/a", len(data), {"owner": "me"})
    assert stor.read("dir/a") == data
    blocks = stor.blocks("dir/a")
    assert len(blocks) == 7
    assert b"".join(blocks) == data
    assert stor.exists("dir/a") is True
    assert stor.metadata("dir/a") == meta
    stor.put("b", b"second")
    assert [m.key for m in stor.list()] == ["b", "dir/a"]
    stor.delete("dir/a")
    assert stor.exists("dir/a") is False
    assert [m.key for m in stor.list()] == ["b"]


def test_missing_file_is_one_clear_error(connect):
    stor = connect()
    assert stor.exists("nope") is False
    for method in (stor.read, stor.metadata, stor.delete, stor.check, stor.repair):
        with pytest.raises(FileNotFound, match="no file stored under key 'nope'"):
            method("nope")


def test_check_repair_and_gc(connect):
    stor = connect()
    stor.put("k", b"x" * 10_000)
    assert stor.check("k").status == "optimal"
    repaired = stor.repair("k")
    assert (repaired.before, repaired.after, repaired.shards_rebuilt) == ("optimal", "optimal", 0)
    stor.put("k", b"y" * 10_000)  # the old blocks are freed as the file is replaced
    assert stor.gc() == 0
    assert stor.read("k") == b"y" * 10_000
