"""Cut a byte stream into blocks: fixed size, or content-defined (FastCDC-style).

Content-defined chunking finds cut points with a gear rolling hash, so an insertion early in a
file moves only the blocks around it and the rest still deduplicate. Cuts fall between ``min``
and ``max`` bytes, around ``avg`` thanks to FastCDC's normalized chunking (a harder mask before
``avg``, an easier one after). The hash runs in pure Python: expect a few MB/s, which suits
metadata-heavy data more than bulk uploads (use fixed blocks there).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from .config import ChunkingConfig, PipelineConfig

_M64 = (1 << 64) - 1
# 256 fixed pseudo-random 64-bit values: the same table everywhere, so cuts are reproducible
GEAR: tuple[int, ...] = tuple(
    int.from_bytes(hashlib.blake2b(bytes([i]), digest_size=8, person=b"zstor-gear").digest())
    for i in range(256)
)


class Reader(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def read_full(stream: Reader | BinaryIO, size: int) -> bytes:
    """Read up to ``size`` bytes, looping over short reads (pipes); fewer only at EOF."""
    data = stream.read(size)
    if len(data) == size or not data:
        return bytes(data)
    parts = [data]
    got = len(data)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def fixed_chunks(stream: Reader | BinaryIO, block_size: int) -> Iterator[bytes]:
    """Blocks of exactly ``block_size`` bytes, the last one shorter; nothing for empty input."""
    while True:
        block = read_full(stream, block_size)
        if not block:
            return
        yield block
        if len(block) < block_size:
            return


def _masks(avg: int) -> tuple[int, int]:
    bits = avg.bit_length() - 1
    hard = ((1 << (bits + 1)) - 1) << (64 - bits - 1)
    easy = ((1 << (bits - 1)) - 1) << (64 - bits + 1)
    return hard, easy


def cut_point(data: bytes | memoryview, lo: int, avg: int, hi: int) -> int:
    """Length of the first content-defined chunk of ``data`` (all of it when shorter than lo)."""
    n = len(data)
    if n <= lo:
        return n
    n = min(n, hi)
    hard, easy = _masks(avg)
    gear = GEAR
    h = 0
    i = lo
    normal = min(avg, n)
    while i < normal:
        h = ((h << 1) + gear[data[i]]) & _M64
        i += 1
        if not h & hard:
            return i
    while i < n:
        h = ((h << 1) + gear[data[i]]) & _M64
        i += 1
        if not h & easy:
            return i
    return n


def cdc_chunks(stream: Reader | BinaryIO, cfg: ChunkingConfig) -> Iterator[bytes]:
    """Content-defined chunks of the stream, each between cfg.min and cfg.max bytes."""
    buf = b""
    eof = False
    while True:
        if not eof and len(buf) < cfg.max:
            more = read_full(stream, max(cfg.max * 4, 1 << 20))
            eof = len(more) == 0 or len(more) < max(cfg.max * 4, 1 << 20)
            buf += more
        if not buf:
            return
        view = memoryview(buf)
        pos = 0
        # cut as many chunks as the buffer holds while a full max-sized window is available
        while len(buf) - pos >= cfg.max or (eof and pos < len(buf)):
            size = cut_point(view[pos : pos + cfg.max], cfg.min, cfg.avg, cfg.max)
            yield bytes(view[pos : pos + size])
            pos += size
        view.release()
        buf = buf[pos:]
        if eof and not buf:
            return


def chunks(stream: Reader | BinaryIO, pipeline: PipelineConfig) -> Iterator[bytes]:
    """The blocks of a stream as the pipeline configures."""
    if pipeline.chunking.type == "cdc":
        return cdc_chunks(stream, pipeline.chunking)
    return fixed_chunks(stream, pipeline.block_size)


__all__ = ["GEAR", "cdc_chunks", "chunks", "cut_point", "fixed_chunks", "read_full"]
