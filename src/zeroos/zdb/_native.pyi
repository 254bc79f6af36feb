# The C module built from _native.c (chain/native.py and embedded/codec.py fall back to
# Python without it).
from typing import Any

def sha256(data: bytes, /) -> bytes: ...
def crc32c(data: bytes, crc: int = 0, portable: bool = False, /) -> int: ...
def packed_root(buf: bytes, /) -> bytes: ...
def leaf_records(
    pending: list[tuple[int, bytes, bytes, int]], first: int, ns: bytes, mark_mask: int, /
) -> tuple[bytes, bytes, list[int]]: ...
def write_entry(
    dmap: Any,
    dpos: int,
    imap: Any,
    ipos: int,
    flags: int,
    key: bytes,
    value: bytes,
    timestamp_us: int,
    prev: int,
    /,
) -> None: ...
def read_value(dmap: Any, offset: int, entrylen: int, key: bytes, /) -> bytes | None: ...
