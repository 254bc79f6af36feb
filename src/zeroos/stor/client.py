"""The zero-stor client: files cut into blocks, spread over zero-db namespaces, kept repairable.

    from zeroos.stor import Stor

    with Stor.from_file("zstor.yaml") as stor:
        with open("movie.mkv", "rb") as f:
            stor.put("movie.mkv", f)
        with stor.get("movie.mkv") as stream:
            data = stream.read()

Uploads and downloads stream: a bounded window of blocks is in flight, so memory stays flat
whatever the file's size. The on-zero-db layout (keys and records) is in docs/stor.md and
:mod:`.layout`; in short, the file's metadata is written last (:mod:`.upload`), so an
interrupted upload is never visible, and blocks are content-addressed, so a block already
stored is not written again. Reading is in :mod:`.reader`, check and repair in :mod:`.health`,
freeing blocks by mark and sweep in :mod:`.gc`.
"""

from __future__ import annotations

import builtins
import io
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from . import chunker
from .backend import Backend, EncryptedBackend, Metastor, ZdbBackend
from .config import StorConfig, load_config
from .distribution import Distribution
from .errors import FileNotFound
from .gc import Collector
from .health import CheckResult, Health, RepairResult, Status
from .layout import Layout, check_key
from .metadata import FileMeta
from .pipeline import Pipeline
from .reader import Fetcher, Progress, StorReader
from .upload import Upload


class Stor:
    """A zero-stor client for one configuration; thread-safe."""

    def __init__(
        self,
        config: StorConfig,
        *,
        data_backends: Iterable[Backend] | None = None,
        meta_backends: Iterable[Backend] | None = None,
    ) -> None:
        self.config = config
        pipe = config.datastor.pipeline
        self.pipeline = Pipeline(pipe)
        self.distribution = Distribution.from_config(pipe.distribution)
        conns = config.workers + 4
        if data_backends is None:
            data_backends = [
                ZdbBackend(config.resolve(s), timeout=config.timeout, max_connections=conns)
                for s in config.datastor.shards
            ]
        if meta_backends is None:
            meta_backends = [
                ZdbBackend(config.resolve(s), timeout=config.timeout, max_connections=conns)
                for s in config.metastor.shards
            ]
        self.backends = list(data_backends)
        meta_key = config.metastor.encryption.key
        metas: list[Backend] = list(meta_backends)
        if meta_key is not None:
            metas = [EncryptedBackend(b, meta_key) for b in metas]
        prefix = config.namespace.encode() + b"/"
        self.meta = Metastor(metas, prefix)
        self._layout = Layout(prefix, self.backends, self.meta, self.distribution, self.pipeline)
        self._pool = ThreadPoolExecutor(config.workers, thread_name_prefix="zstor")
        # network reads that CPU work waits for: a pool of their own, so they never queue
        # behind the work that waits for them
        io_pool = ThreadPoolExecutor(2 * len(self.backends) or 1, thread_name_prefix="zstor-io")
        self._io = io_pool
        self._fetcher = Fetcher(self._layout, self._pool, io_pool)
        self._health = Health(self._layout, self._pool, config.workers)
        self._collector = Collector(self._layout)

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        return cls(load_config(path))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._io.shutdown(wait=True, cancel_futures=True)
        for backend in self.backends:
            backend.close()
        self.meta.close()

    # -- writing ---------------------------------------------------------------------------------
    def put(
        self,
        key: str,
        stream: BinaryIO | bytes | bytearray | memoryview | chunker.Reader,
        *,
        user: dict[str, str] | None = None,
        progress: Progress | None = None,
    ) -> FileMeta:
        """Store a stream (or bytes) under ``key``, replacing what was there; its metadata."""
        key = check_key(key)
        if isinstance(stream, bytes | bytearray | memoryview):
            stream = io.BytesIO(stream)
        upload = Upload(self._layout, self._collector, self._pool, self.config.workers, progress)
        return upload.run(key, stream, dict(user or {}))

    # -- reading ---------------------------------------------------------------------------------
    def metadata(self, key: str) -> FileMeta:
        """The metadata of a stored file; FileNotFound when there is none."""
        meta = self._layout.file(check_key(key))
        if meta is None:
            raise FileNotFound(f"no file stored under key {key!r}; see `zos stor list`")
        return meta

    def exists(self, key: str) -> bool:
        return self._layout.file(check_key(key)) is not None

    def list(self) -> builtins.list[FileMeta]:
        """Every stored file, sorted by key."""
        keys = [k for k, _ in self.meta.scan(b"f:")]
        out: builtins.list[FileMeta] = []
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            for k, data in zip(batch, self.meta.mget(batch), strict=True):
                if data is not None:
                    out.append(FileMeta.decode(k[2:].decode(errors="replace"), data))
        return sorted(out, key=lambda m: m.key)

    def get(self, key: str, *, progress: Progress | None = None) -> StorReader:
        """A readable stream of the file stored under ``key``; close it when done."""
        return StorReader(self._fetcher, self.metadata(key), self.config.workers, progress)

    def read(self, key: str) -> bytes:
        """The whole file in memory (small files; use :meth:`get` for large ones)."""
        with self.get(key) as stream:
            return b"".join(stream.iter_blocks())

    def download(self, key: str, out: BinaryIO, *, progress: Progress | None = None) -> int:
        """Write the file to a binary stream; the number of bytes written."""
        written = 0
        with self.get(key, progress=progress) as stream:
            for block in stream.iter_blocks():
                out.write(block)
                written += len(block)
        return written

    # -- health ----------------------------------------------------------------------------------
    def check(self, key: str, *, progress: Progress | None = None) -> CheckResult:
        """Read every shard of a file and verify its hash: optimal, degraded or lost."""
        return self._health.check(self.metadata(key), progress)

    def repair(self, key: str, *, progress: Progress | None = None) -> RepairResult:
        """Rebuild missing or corrupt shards of a file, onto healthy servers."""
        return self._health.repair(self.metadata(key), progress)

    # -- deleting --------------------------------------------------------------------------------
    def delete(self, key: str) -> None:
        """Remove a file; its blocks are freed unless another file (or an upload) uses them."""
        self._collector.delete(self.metadata(key))

    def gc(self) -> int:
        """Collect what interrupted uploads and lost races left: unused objects, stale pages and
        claims. Returns the number of objects freed."""
        return self._collector.gc()


__all__ = ["CheckResult", "Progress", "RepairResult", "Status", "Stor", "StorReader"]
