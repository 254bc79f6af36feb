"""Blocks for a mount: from memory, the shared cache or the store, verified, with prefetch."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence

import trio

from ..blocks import unseal
from ..errors import BlockError, FlistError, StoreUnavailable
from ..models import BlockRef
from ..stores import BlockStore, get_many, one_failure
from .cache import BlockCache

log = logging.getLogger(__name__)

# Blocks asked of a store in one request (zero-db: one MGET), at most.
_BATCH = 16
# A block fetched ahead and at least this large is checked and decoded on a worker thread
# (hashing and decryption let go of the GIL), so that the loop keeps serving other reads
# meanwhile; a small one costs less than the hand-over and is done on the loop.
_DECODE_ON_THREAD = 256 * 1024

_Outcome = memoryview | FlistError


class BlockReader:
    """Plain blocks by reference: decoded blocks in memory, their ciphertext in the disk cache.

    It runs on the mount's trio loop, and so does every fetch: a zero-db store is asked
    through its trio client, a batch of blocks in one MGET; other stores (dir, zstor) on a
    worker thread. A thread hand-over per block cost more than a small file's whole read (two
    to four context switches each way, on a machine where one costs tens of microseconds).
    Each block is checked against its id (and AES-GCM's tag) before use, from the store or the
    cache alike; hashing the plain bytes again against the key is skipped (see blocks.unseal).
    Plain blocks are read-only memoryviews: nothing copies them before the kernel does.

    A read waits for its block at most ``timeout`` seconds (a store that stops answering
    makes the read fail, never hang); reads of a block being fetched wait for that fetch.
    ``prefetch`` starts fetching blocks a reader will want next, in batches.

    A fetched block goes to the disk cache after the read has it, from the loop too; a burst
    of them costs the cache one lock and one commit.
    """

    def __init__(
        self,
        store: BlockStore,
        cache: BlockCache,
        *,
        timeout: float,
        workers: int = 4,
        memory_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.store = store
        self.cache = cache
        self.timeout = timeout
        self._requests = trio.CapacityLimiter(workers)  # store requests under way, at most
        self._pending: dict[bytes, trio.Event] = {}  # blocks being fetched, set when done
        self._plain: OrderedDict[bytes, memoryview] = OrderedDict()
        self._plain_bytes = 0
        self._memory_bytes = memory_bytes
        self._unwritten: dict[bytes, bytes] = {}  # blocks waiting for the disk cache, by id
        self._writing = False  # a write of them is scheduled

    async def read(self, ref: BlockRef) -> memoryview:
        """A block's plain bytes; StoreUnavailable when it cannot be had within the timeout."""
        plain = self.peek(ref)
        if plain is not None:
            return plain
        with trio.move_on_after(self.timeout):
            return await self._get(ref)
        raise self.late(ref)

    def late(self, ref: BlockRef) -> StoreUnavailable:
        """The error of a block not had within the timeout."""
        return StoreUnavailable(
            f"block {ref.id.hex()} not received from {self.store.url} within {self.timeout:g}s"
        )

    def peek(self, ref: BlockRef) -> memoryview | None:
        """A block's plain bytes if they are in memory now, else None (never waits)."""
        plain = self._plain.get(ref.id)
        if plain is not None:
            self._plain.move_to_end(ref.id)
        return plain

    def prefetch(self, refs: Sequence[BlockRef], *, batch: int = _BATCH) -> None:
        """Start fetching blocks that a reader will probably ask for next (on the loop, in
        requests of up to `batch` blocks; those in memory or coming already are left out).

        A batch is had whole or not at all: the blocks ahead of a sequential reader go in
        small ones, so that the next is there as soon as it can be."""
        # claimed now: a read of one of them from here on waits for this fetch
        claimed = list(self._claim(refs).items())
        for start in range(0, len(claimed), batch):
            trio.lowlevel.spawn_system_task(self._prefetch, dict(claimed[start : start + batch]))

    def close(self) -> None:
        """Forget the blocks not yet in the disk cache (an unmount does not wait for them)."""
        self._unwritten.clear()

    # -- fetching ---------------------------------------------------------------------------
    async def _get(self, ref: BlockRef) -> memoryview:
        while True:
            plain = self.peek(ref)
            if plain is not None:
                return plain
            event = self._pending.get(ref.id)
            if event is not None:
                await event.wait()
                plain = self.peek(ref)
                if plain is not None:
                    return plain
                # that fetch failed: this read fetches the block alone, which says why
            outcome = (await self._load(self._claim([ref]), waited=True)).get(ref.id)
            if outcome is None:
                continue  # another read began fetching it meanwhile: that one is waited for
            if isinstance(outcome, FlistError):
                raise outcome
            return outcome

    async def _prefetch(self, claimed: dict[bytes, BlockRef]) -> None:
        try:
            await self._load(claimed, waited=False)
        except Exception:  # a system task must not fail: the reads will say what went wrong
            log.exception("event=prefetch_failed blocks=%d", len(claimed))

    def _claim(self, refs: Sequence[BlockRef]) -> dict[bytes, BlockRef]:
        """The blocks of `refs` neither in memory nor coming, marked as coming: the caller
        fetches them with _load, which marks them done."""
        claimed = {r.id: r for r in refs if r.id not in self._plain and r.id not in self._pending}
        for block in claimed:
            self._pending[block] = trio.Event()
        return claimed

    async def _load(self, mine: dict[bytes, BlockRef], *, waited: bool) -> dict[bytes, _Outcome]:
        """Fetch claimed blocks: from the disk cache, then the stores; each one's plain bytes
        (also kept in memory) or why it could not be had. `waited`: a read waits for them."""
        outcomes: dict[bytes, _Outcome] = {}
        try:
            cached = self.cache.get_many(list(mine))
            # fetched before and dropped from memory, not yet written
            cached.update((b, self._unwritten[b]) for b in mine if b in self._unwritten)
            missing = []
            for block, ref in mine.items():
                data = cached.get(block)
                plain = await self._cached(ref, data, waited) if data is not None else None
                if plain is None:
                    missing.append(ref)
                else:
                    outcomes[block] = self._remember(block, plain)
            stored = await self._from_stores([r.id for r in missing]) if missing else {}
            for ref in missing:
                got = stored[ref.id]
                if isinstance(got, FlistError):
                    outcomes[ref.id] = got
                    continue
                try:
                    plain = await self._unseal(ref, got, waited)
                except BlockError as exc:
                    outcomes[ref.id] = exc
                    continue
                outcomes[ref.id] = self._remember(ref.id, plain)
                self._keep(ref.id, got)
        finally:
            for block in mine:
                self._pending.pop(block).set()
        return outcomes

    async def _cached(self, ref: BlockRef, data: bytes, waited: bool) -> memoryview | None:
        """A cached block's plain bytes, or None (and the block forgotten) when it is corrupt."""
        try:
            return await self._unseal(ref, data, waited)
        except BlockError:
            log.warning("event=cache_block_corrupt block=%s", ref.id.hex())
            self.cache.discard(ref.id)
            return None

    async def _unseal(self, ref: BlockRef, data: bytes, waited: bool) -> memoryview:
        # a read waiting for the block has it soonest on the loop (a thread would share the
        # GIL with the loop anyway); a large block fetched ahead is decoded beside the loop
        if waited or len(data) < _DECODE_ON_THREAD:
            return unseal(ref, data)
        return await trio.to_thread.run_sync(unseal, ref, data, abandon_on_cancel=True)

    async def _from_stores(self, ids: list[bytes]) -> dict[bytes, bytes | FlistError]:
        """Blocks' stored bytes, each store asked once for all of its blocks; a block its
        first store did not give is asked of the next store of its range, and so on."""
        left: dict[bytes, list[BlockStore]] = {}
        found: dict[bytes, bytes | FlistError] = {}
        for block in ids:
            try:
                left[block] = self._candidates(block)
            except FlistError as exc:
                found[block] = exc
        errors: dict[bytes, list[FlistError]] = {block: [] for block in left}
        while left:
            asks: dict[int, tuple[BlockStore, list[bytes]]] = {}
            for block, stores in left.items():
                store = stores.pop(0)
                asks.setdefault(id(store), (store, []))[1].append(block)
            for store, blocks in asks.values():
                try:
                    got: Sequence[bytes | None] = await self._ask(store, blocks)
                except FlistError as exc:
                    errors.update((b, [*errors[b], exc]) for b in blocks)
                    continue
                for block, data in zip(blocks, got, strict=True):
                    if data is not None:
                        found[block] = data
                    else:
                        missing = BlockError(f"block {block.hex()} is not in store {store.url}")
                        errors[block].append(missing)
            left = {b: s for b, s in left.items() if b not in found and s}
        for block, failures in errors.items():
            if block not in found:
                found[block] = one_failure(failures)
        return found

    def _candidates(self, block: bytes) -> list[BlockStore]:
        """The stores to ask for a block, in order: a router's for its range, or the one."""
        pick = getattr(self.store, "candidates", None)
        return list(pick(block)) if pick is not None else [self.store]

    async def _ask(self, store: BlockStore, blocks: list[bytes]) -> Sequence[bytes | None]:
        """One store's bytes for some blocks: its trio call when it has one (zero-db), else
        its blocking batch call on a worker thread."""
        async with self._requests:
            fetch = getattr(store, "aget_many", None)
            if fetch is not None:
                result: Sequence[bytes | None] = await fetch(blocks)
                return result
            return await trio.to_thread.run_sync(get_many, store, blocks, abandon_on_cancel=True)

    def _remember(self, block_id: bytes, plain: memoryview) -> memoryview:
        if block_id not in self._plain:
            self._plain[block_id] = plain
            self._plain_bytes += plain.nbytes
            while self._plain_bytes > self._memory_bytes and len(self._plain) > 1:
                _, old = self._plain.popitem(last=False)
                self._plain_bytes -= old.nbytes
        return plain

    # -- the disk cache ---------------------------------------------------------------------
    def _keep(self, block_id: bytes, data: bytes) -> None:
        """Have a verified block written to the disk cache soon, after the read has it."""
        self._unwritten[block_id] = data
        if not self._writing:
            self._writing = True
            trio.lowlevel.spawn_system_task(self._write_soon)

    async def _write_soon(self) -> None:
        """Write the blocks waiting for the cache once the loop is through with the requests
        at hand (the read that fetched a block has replied by then); a burst of fetches costs
        one lock and one commit. On the loop: a thread would cost more in hand-overs than the
        writes themselves."""
        try:
            await trio.sleep(0)
            self.flush()
        finally:
            self._writing = False

    def flush(self) -> None:
        """Write every block still waiting for the disk cache, now."""
        while self._unwritten:
            blocks = list(self._unwritten.items())
            self.cache.put_many(blocks)
            for block_id, _ in blocks:
                del self._unwritten[block_id]
