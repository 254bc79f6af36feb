"""Spread a payload over shards: N full copies, or Reed-Solomon k data + m parity (zfec).

With zfec the first k shards are the payload itself (cut in k equal pieces, the last padded with
zeros), so reading an intact object is a plain concatenation; any k of the k+m shards rebuild it.
"""

from __future__ import annotations

import zfec  # type: ignore[import-untyped]

from .config import DistributionConfig
from .errors import DataLost


class Distribution:
    """Split and join payloads for one distribution setting; safe to share by threads."""

    def __init__(self, data_shards: int, parity_shards: int) -> None:
        self.replication = parity_shards == 0
        self.k = data_shards
        self.m = parity_shards
        self.total = data_shards if self.replication else data_shards + parity_shards
        self.need = 1 if self.replication else data_shards

    @classmethod
    def from_config(cls, cfg: DistributionConfig) -> Distribution:
        return cls(cfg.data_shards, cfg.parity_shards)

    def shard_size(self, size: int) -> int:
        return size if self.replication else max(1, -(-size // self.k))

    def split(self, payload: bytes) -> list[bytes]:
        """The ``total`` shards of a payload."""
        if self.replication:
            return [payload] * self.total
        size = self.shard_size(len(payload))
        # only the short pieces at the end are padded: no copy of the whole payload
        pieces = [payload[i * size : (i + 1) * size].ljust(size, b"\0") for i in range(self.k)]
        return [bytes(s) for s in zfec.Encoder(self.k, self.total).encode(pieces)]

    def join(self, shards: dict[int, bytes], size: int) -> bytes:
        """The payload of ``size`` bytes from intact shards (index -> bytes); at least ``need``."""
        if len(shards) < self.need:
            raise DataLost(f"only {len(shards)} intact shards, {self.need} needed")
        if self.replication:
            return next(iter(shards.values()))
        if all(i in shards for i in range(self.k)):
            # cut the padding off the last piece only: one copy of the payload, not two
            last = size - len(shards[0]) * (self.k - 1)
            if last < 0:  # a payload smaller than k - 1 pieces
                return b"".join(shards[i] for i in range(self.k))[:size]
            return b"".join([*(shards[i] for i in range(self.k - 1)), shards[self.k - 1][:last]])
        nums = tuple(sorted(shards)[: self.k])
        blocks = tuple(shards[i] for i in nums)
        pieces = zfec.Decoder(self.k, self.total).decode(blocks, nums)
        return b"".join(pieces)[:size]


__all__ = ["Distribution"]
