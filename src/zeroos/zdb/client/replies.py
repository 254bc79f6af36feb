"""What zero-db's clients send and get back, without I/O: key and value encoding, reply types
and the readers that turn RESP replies into them (shared by :mod:`.steps` and both drivers).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, TypeVar

from ..errors import ZdbError

Key: TypeAlias = bytes | str | int
"""A key: bytes, text (sent as UTF-8), or a sequential id (int, sent as 8 bytes little-endian)."""
Value: TypeAlias = bytes | str
"""A value: bytes, or text (sent as UTF-8)."""
FieldValue: TypeAlias = str | int | float | bool
"""One field of INFO or NSINFO: yes/no become bool, numbers int or float, the rest text."""
Command: TypeAlias = tuple[bytes, ...]
"""One command as sent: its name and arguments."""
_T = TypeVar("_T")

SEQ_ID_SIZE: Final = 8
_NUMBER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]+\.[0-9]+")


# -- what the server returns ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ScanEntry:
    """One key that SCAN or RSCAN returned: its name, value size and last write time."""

    key: bytes
    size: int
    timestamp: int  # unix seconds of the last write

    @property
    def seq_id(self) -> int:
        """The key read as a sequential id (namespaces in ``seq`` mode)."""
        return int.from_bytes(self.key, "little")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One version of a key that HISTORY returned, newest first."""

    value: bytes
    timestamp: int  # unix seconds of this version's write
    cursor: bytes | None  # where this version sits; None for the current version


@dataclass(frozen=True, slots=True)
class NamespaceInfo:
    """What NSINFO reports about a namespace, typed; ``fields`` holds every line as parsed."""

    name: str
    entries: int
    public: bool
    worm: bool
    locked: bool  # locked or frozen (NSSET lock/freeze)
    password: bool  # whether a password is set
    data_size_bytes: int
    data_limits_bytes: int  # maxsize; 0 means no limit
    index_size_bytes: int
    mode: str  # "user" or "seq", the words NSSET uses
    space_available: int | None  # only when a maxsize is set
    data_path: str | None  # only reported to admins
    index_path: str | None
    fields: dict[str, FieldValue]

    @classmethod
    def parse(cls, text: str) -> NamespaceInfo:
        """Build from the text of an NSINFO reply."""
        fields = parse_fields(text)
        mode = _field(fields, "mode", str)
        return cls(
            name=_field(fields, "name", str),
            entries=_field(fields, "entries", int),
            public=_field(fields, "public", bool),
            worm=_field(fields, "worm", bool),
            locked=_field(fields, "locked", bool),
            password=_field(fields, "password", bool),
            data_size_bytes=_field(fields, "data_size_bytes", int),
            data_limits_bytes=_field(fields, "data_limits_bytes", int),
            index_size_bytes=_field(fields, "index_size_bytes", int),
            mode={"userkey": "user", "sequential": "seq"}.get(mode, mode),
            space_available=_optional(fields, "space_available", int),
            data_path=_optional(fields, "data_path", str),
            index_path=_optional(fields, "index_path", str),
            fields=fields,
        )


def parse_fields(text: str) -> dict[str, FieldValue]:
    """Parse the ``key: value`` lines of INFO and NSINFO; headers and blank lines are skipped."""
    out: dict[str, FieldValue] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, sep, raw = line.partition(":")
        if not sep:
            continue
        raw = raw.strip()
        value: FieldValue
        if raw in ("yes", "no"):
            value = raw == "yes"
        elif _NUMBER.fullmatch(raw):
            value = int(raw)
        elif _DECIMAL.fullmatch(raw):
            value = float(raw)
        else:
            value = raw
        out[name.strip()] = value
    return out


def _field(fields: dict[str, FieldValue], name: str, kind: type[_T]) -> _T:
    value = _optional(fields, name, kind)
    if value is None:
        raise ZdbError(f"NSINFO reply lacks the field {name!r}")
    return value


def _optional(fields: dict[str, FieldValue], name: str, kind: type[_T]) -> _T | None:
    value = fields.get(name)
    if value is None:
        return None
    if kind is str:
        value = str(value)
    # bool is an int: a yes/no field must not pass for a number, nor a number for yes/no
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ZdbError(f"NSINFO field {name!r} has an unexpected value {value!r}")
    return value


# -- what the client sends ------------------------------------------------------------------
def encode_key(key: Key) -> bytes:
    """The bytes sent for a key; an int is a sequential id (8 bytes, little-endian)."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bool) or not isinstance(key, int):
        raise TypeError(f"a zero-db key is bytes, str or int, not {type(key).__name__}")
    if not 0 <= key < 1 << (8 * SEQ_ID_SIZE):
        raise ValueError(f"sequential id {key} does not fit in {SEQ_ID_SIZE} bytes")
    return key.to_bytes(SEQ_ID_SIZE, "little")


def encode_value(value: Value) -> bytes:
    """The bytes sent for a value; text is sent as UTF-8."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"a zero-db value is bytes or str, not {type(value).__name__}")


def setting(value: str | int | bool) -> bytes:
    """An NSSET value as sent: booleans as 1/0, the rest as text."""
    if isinstance(value, bool):
        return b"1" if value else b"0"
    return str(value).encode()


def secure_proof(nonce: str, password: str) -> bytes:
    """0-db's answer to a challenge: lowercase hex SHA1 of ``"<nonce>:<password>"``."""
    digest = hashlib.sha1(f"{nonce}:{password}".encode(), usedforsecurity=False)
    return digest.hexdigest().encode()


# -- parsing replies ------------------------------------------------------------------------
def text(reply: Any) -> str:
    """A status or bulk reply read as text."""
    if not isinstance(reply, bytes):
        raise ZdbError(f"expected a text reply from zero-db, got {reply!r}")
    return reply.decode(errors="replace")


def bytes_or_none(reply: Any) -> bytes | None:
    """A bulk reply, or None for nil."""
    if reply is None or isinstance(reply, bytes):
        return reply
    raise ZdbError(f"expected a bulk reply from zero-db, got {reply!r}")


def int_or_none(reply: Any) -> int | None:
    """An integer reply, or None for nil."""
    if reply is None or isinstance(reply, int):
        return reply
    raise ZdbError(f"expected an integer reply from zero-db, got {reply!r}")


def integer(reply: Any) -> int:
    """An integer reply that must be there."""
    value = int_or_none(reply)
    if value is None:
        raise ZdbError("expected an integer reply from zero-db, got nil")
    return value


def seq_id(reply: Any) -> int:
    """A sequential id (8 bytes, little-endian) read as an int."""
    if not isinstance(reply, bytes) or len(reply) != SEQ_ID_SIZE:
        raise ZdbError(f"expected an {SEQ_ID_SIZE}-byte sequential id from zero-db, got {reply!r}")
    return int.from_bytes(reply, "little")


def parse_time(reply: Any) -> tuple[int, int]:
    """TIME's reply: (unix seconds, microseconds)."""
    if not isinstance(reply, list) or len(reply) != 2:
        raise ZdbError(f"unexpected TIME reply from zero-db: {reply!r}")
    return int(reply[0]), int(reply[1])


def parse_scan(reply: Any) -> tuple[bytes, list[ScanEntry]]:
    """A SCAN or RSCAN reply: the batch's cursor and its entries."""
    try:
        cursor, items = reply
        entries = [ScanEntry(bytes(k), int(s), int(t)) for k, s, t in items]
    except (TypeError, ValueError) as exc:
        raise ZdbError(f"unexpected SCAN reply from zero-db: {reply!r}") from exc
    if not isinstance(cursor, bytes):
        raise ZdbError(f"unexpected SCAN cursor from zero-db: {cursor!r}")
    return cursor, entries


def parse_history(reply: Any, cursor: bytes | None) -> tuple[HistoryEntry, bytes | None]:
    """A HISTORY reply: this version, and the cursor of the next older one."""
    try:
        parent, stamp, value = reply
        entry = HistoryEntry(bytes(value), int(stamp), cursor)
    except (TypeError, ValueError) as exc:
        raise ZdbError(f"unexpected HISTORY reply from zero-db: {reply!r}") from exc
    return entry, bytes_or_none(parent)


def parse_leaves(reply: Any) -> list[bytes]:
    """The raw leaves of a CHAIN LEAF reply."""
    return [bytes(leaf) for leaf in reply]


def parse_names(reply: Any) -> list[str]:
    """The namespace names of an NSLIST reply."""
    return [text(name) for name in reply]


def parse_info(reply: Any) -> dict[str, FieldValue]:
    """The fields of an INFO reply."""
    return parse_fields(text(reply))


def is_pong(reply: Any) -> bool:
    """Whether a PING was answered."""
    return bool(reply == b"PONG")


def is_one(reply: Any) -> bool:
    """An integer reply read as yes (1) or no."""
    return integer(reply) == 1


def yes_no_or_none(reply: Any) -> bool | None:
    """An integer reply read as yes (1) or no, or None for nil."""
    value = int_or_none(reply)
    return None if value is None else value == 1


def raw(reply: Any) -> bytes:
    """A bulk reply as bytes."""
    return bytes(reply)


def nothing(reply: Any) -> None:
    """A reply that says only that the command worked (+OK)."""
