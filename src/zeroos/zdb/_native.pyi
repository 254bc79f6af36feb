# The C module built from _native.c (chain/native.py and embedded/codec.py fall back to
# Python without it).
from typing import Final

from .embedded.codec import ReadValue, WriteEntry

# the layouts and codes _native.c assumes (tests/zdb/test_contracts.py holds them to
# embedded/format.py, chain/leaf.py and protocol.py)
DATA_HEADER_SIZE: Final[int]
INDEX_HEADER_SIZE: Final[int]
INDEX_OVERHEAD: Final[int]
FLAG_DELETED: Final[int]
LEAF_VERSION: Final[int]
OP_SET: Final[int]
OP_DEL: Final[int]
FRAME_LINE_MAX: Final[int]
FRAME_OK: Final[int]
FRAME_TOO_MANY: Final[int]
FRAME_ABSURD: Final[int]
FRAME_NOT_ARRAY: Final[int]
FRAME_NOT_BULK: Final[int]
FRAME_BAD_COUNT: Final[int]
FRAME_BAD_LENGTH: Final[int]
FRAME_SKIPPED: Final[int]

def sha256(data: bytes, /) -> bytes: ...
def crc32c(data: bytes, crc: int = 0, portable: bool = False, /) -> int: ...
def packed_root(buf: bytes, /) -> bytes: ...
def leaf_records(
    pending: list[tuple[int, bytes, bytes, int]], first: int, ns: bytes, mark_mask: int, /
) -> tuple[bytes, bytes, list[int]]: ...

# the same calls as embedded/codec.py's Python fallbacks (py_write_entry, py_read_value)
write_entry: WriteEntry
read_value: ReadValue

def index_valid_end(buf: bytes, /) -> int: ...
def scan_entries(buf: bytes, start: int, /) -> list[tuple[int, int, bool]]: ...
def scan_leaves(
    buf: bytes, mark_mask: int, /
) -> tuple[int, int, list[int], list[tuple[int, int]]]: ...
def apply_key_leaves(
    buf: bytes, count: int, keys: dict[bytes, int], dels: dict[bytes, int], shift: int, /
) -> None: ...
def resp_frame(
    left: int, need: int, skip: bool, data: bytes, pos: int, max_args: int, skip_max: int, /
) -> tuple[int, int, bool, int, int, int]: ...
