"""The asyncio zero-db client's own cases: tasks sharing one bounded pool, WAIT beside other
tasks, SELECT moving every pooled connection. What both clients do is test_clients.py's."""

from __future__ import annotations

import asyncio
import time

import pytest

from zeroos.zdb import (
    AsyncClient,
    Client,
    NamespaceNotFound,
)

pytestmark = pytest.mark.both_engines

ADMIN = "secret"


def test_concurrent_tasks_share_a_bounded_pool(zdb):
    async def main() -> None:
        async with AsyncClient(port=zdb.port, max_connections=4) as c:
            await asyncio.gather(*(c.set(f"k{i}", str(i)) for i in range(300)))
            values = await asyncio.gather(*(c.get(f"k{i}") for i in range(300)))
            assert values == [str(i).encode() for i in range(300)]
            assert await c.dbsize() == 300

    asyncio.run(main())


def test_wait(zdb):
    async def main() -> None:
        async with AsyncClient(port=zdb.port) as c, AsyncClient(port=zdb.port) as other:
            started = time.monotonic()
            assert await c.wait("SET", 200) is None
            assert time.monotonic() - started < 3
            waiting = asyncio.ensure_future(c.wait("SET", 5000))
            while not waiting.done():
                await other.set("k", str(time.monotonic()))
                await asyncio.sleep(0.02)
            assert await waiting == "SET"

    asyncio.run(main())


def test_select_moves_every_pooled_connection(zdb):
    async def main() -> None:
        async with AsyncClient(port=zdb.port) as c:
            await c.nsnew("shared")

            async def wait_and_poke() -> str | None:
                waiting = asyncio.ensure_future(c.wait("SET", 5000))
                deadline = time.monotonic() + 5
                i = 0
                while not waiting.done() and time.monotonic() < deadline:
                    await c.set("poke", str(i))  # on another pooled connection
                    i += 1
                    await asyncio.sleep(0.02)
                return await waiting

            assert await wait_and_poke() == "SET"
            await c.select("shared")
            assert await wait_and_poke() == "SET"
            with pytest.raises(NamespaceNotFound):
                await c.select("nowhere")
            assert c.namespace == "shared"
        with Client(port=zdb.port, namespace="shared") as check:
            assert check.get("poke") is not None

    asyncio.run(main())
