"""A file's health: :func:`check` reads every shard and verifies its hash; :func:`repair`
rebuilds missing or corrupt shards in place or onto other healthy servers."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from .distribution import Distribution
from .errors import DataLost, StorError
from .layout import Layout, obj_key, shard_digest
from .metadata import ChunkRef, FileMeta, ObjectMeta, ShardLocation
from .reader import Progress

Status = Literal["optimal", "degraded", "lost"]
_T = TypeVar("_T")
_RANK = {"optimal": 0, "degraded": 1, "lost": 2}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The health of one file: optimal (every shard intact), degraded (repairable) or lost."""

    key: str
    status: Status
    objects: int = 0
    degraded: int = 0  # objects missing shards but still readable
    lost: int = 0  # objects that cannot be rebuilt
    bad_shards: int = 0


@dataclass(frozen=True, slots=True)
class RepairResult:
    """What :meth:`Stor.repair` did: the status before and after, and shards rewritten."""

    key: str
    before: Status
    after: Status
    shards_rebuilt: int = 0
    # why a shard could not be rebuilt (the first reason met), "" when every one was
    reason: str = ""


@dataclass(slots=True)
class _ObjectHealth:
    meta: ObjectMeta
    good: dict[int, bytes] = field(default_factory=dict)
    bad: list[int] = field(default_factory=list)

    @property
    def status(self) -> Status:
        if not self.bad:
            return "optimal"
        need = 1 if self.meta.replication else self.meta.data_shards
        return "degraded" if len(self.good) >= need else "lost"


class Health:
    """Checks and repairs files, several objects at once on ``pool``."""

    def __init__(self, layout: Layout, pool: ThreadPoolExecutor, workers: int) -> None:
        self.layout = layout
        self.pool = pool
        self.workers = workers

    def _health(self, ref: ChunkRef) -> _ObjectHealth:
        om = self.layout.object(ref.obj_key)
        health = _ObjectHealth(om)
        for index in range(len(om.shards)):
            value = self.layout.read_shard(om, index)
            if value is None:
                health.bad.append(index)
            else:
                health.good[index] = value
        return health

    def _walk(
        self, meta: FileMeta, job: Callable[[ChunkRef], _T], progress: Progress | None
    ) -> Iterator[_T]:
        """``job`` for each distinct object of a file, a bounded window of them at once."""
        seen: set[bytes] = set()
        window: deque[tuple[ChunkRef, Future[_T]]] = deque()

        def finish() -> _T:
            done, fut = window.popleft()
            result = fut.result()
            if progress is not None:
                progress(done.size)
            return result

        for ref in self.layout.chunk_refs(meta):
            if ref.obj_key in seen:
                if progress is not None:
                    progress(ref.size)
                continue
            seen.add(ref.obj_key)
            window.append((ref, self.pool.submit(job, ref)))
            if len(window) >= 2 * self.workers:
                yield finish()
        while window:
            yield finish()

    def check(self, meta: FileMeta, progress: Progress | None = None) -> CheckResult:
        """Read every shard of a file and verify its hash: optimal, degraded or lost."""
        objects = degraded = lost = bad = 0
        for status, nbad in self._walk(meta, self._check_object, progress):
            objects += 1
            bad += nbad
            degraded += status == "degraded"
            lost += status == "lost"
        overall: Status = "lost" if lost else "degraded" if degraded else "optimal"
        return CheckResult(meta.key, overall, objects, degraded, lost, bad)

    def _check_object(self, ref: ChunkRef) -> tuple[Status, int]:
        try:
            health = self._health(ref)
        except DataLost:
            return "lost", 0
        return health.status, len(health.bad)

    def repair(self, meta: FileMeta, progress: Progress | None = None) -> RepairResult:
        """Rebuild missing or corrupt shards of a file, onto healthy servers."""
        before: Status = "optimal"
        after: Status = "optimal"
        rebuilt = 0
        reason = ""
        for was, now, count, why in self._walk(meta, self._repair_object, progress):
            rebuilt += count
            before = max(before, was, key=_RANK.__getitem__)
            after = max(after, now, key=_RANK.__getitem__)
            reason = reason or why
        return RepairResult(meta.key, before, after, rebuilt, reason)

    def _repair_object(self, ref: ChunkRef) -> tuple[Status, Status, int, str]:
        try:
            health = self._health(ref)
        except DataLost as exc:
            return "lost", "lost", 0, str(exc)
        status = health.status
        if status != "degraded":
            return status, status, 0, ""
        om = health.meta
        shards = Distribution(om.data_shards, om.parity_shards).split(
            self.layout.payload(om, health.good)
        )
        locations = list(om.shards)
        holding = {loc.location for i, loc in enumerate(locations) if i not in health.bad}
        rebuilt = 0
        why = ""
        for index in health.bad:
            try:
                placed = self._rebuild(om, index, shards, locations[index], holding)
            except StorError as exc:
                why = why or str(exc)
                continue
            locations[index] = placed
            holding.add(placed.location)
            rebuilt += 1
        fixed = dataclasses.replace(om, shards=tuple(locations))
        self.layout.meta.set(obj_key(om.obj_key), fixed.encode())
        return status, ("optimal" if rebuilt == len(health.bad) else "degraded"), rebuilt, why

    def _rebuild(
        self,
        om: ObjectMeta,
        index: int,
        shards: list[bytes],
        was: ShardLocation,
        holding: set[str],
    ) -> ShardLocation:
        """Write shard ``index`` again: in place first (a corrupt shard, or a wiped server that
        is back), else onto a server that holds no shard of the object."""
        layout = self.layout
        home = layout.by_location.get(was.location)
        digest = shard_digest(shards[index])
        if home is not None and home.location not in holding:
            skey = layout.shard_key(om.obj_key, index)
            try:
                # delete first: zero-db skips a SET whose value matches the checksum it
                # indexed, which would leave bytes corrupted on its disk in place
                home.delete(skey)
                home.set(skey, shards[index])
                back = home.get(skey)
                if back is not None and shard_digest(back) == digest:
                    return ShardLocation(home.location, digest)
            except StorError:
                pass  # written elsewhere below
        digests = [digest] * len(shards)
        taken = holding | {was.location}
        return layout.write_shards(om.obj_key, shards, digests, [index], taken)[index]


__all__ = ["CheckResult", "Health", "RepairResult", "Status"]
