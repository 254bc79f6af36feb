"""The argument checks the command groups share, and 0-db's limits and reply lines."""

from __future__ import annotations

from ...chain.signing import SignatureError, public_key_from_hex
from ...engine import Store
from ...errors import FROZEN, PERMISSION_DENIED, ReplyError
from ...protocol import MAX_KEY
from .session import ACCESS_FROZEN, Session

SEQ_KEY_SIZE = 8
NAMESPACE_MAX = 128

NO_CHAIN = "Chain disabled on this server"


def need(args: list[bytes], count: int) -> None:
    """0-db's exact-count check: a wrong count or an empty argument is refused."""
    if len(args) != count:
        raise ReplyError("Unexpected arguments")
    for arg in args:
        if not arg:
            raise ReplyError("Invalid argument")


def key_arg(args: list[bytes]) -> bytes:
    """The single key argument of GET-like commands."""
    if len(args) != 2:
        raise ReplyError("Unexpected arguments")
    key = args[1]
    if not key or not args[0]:
        raise ReplyError("Invalid argument")
    if len(key) > MAX_KEY:
        raise ReplyError("Invalid key")
    return key


def timestamp_us(raw: bytes) -> int:
    """An admin's explicit timestamp (seconds; 0-db keeps a u32), in microseconds."""
    try:
        seconds = int(raw)
    except ValueError:
        raise ReplyError("Invalid argument") from None
    if not 0 <= seconds <= 0xFFFFFFFF:  # the engines cannot store others
        raise ReplyError("Invalid argument")
    return seconds * 1_000_000


def int_arg(raw: bytes, what: str) -> int:
    """A non-negative integer argument; ``what`` names it in the error line."""
    if not raw.isdigit() or len(raw) > 20:
        raise ReplyError(f"Invalid {what} (expected: a non-negative integer)")
    return int(raw)


def owner_arg(raw: bytes) -> str:
    """A reservation owner's Ed25519 public key, as lower-case hex."""
    try:
        return public_key_from_hex(raw.decode("ascii")).hex()
    except (SignatureError, UnicodeDecodeError):
        raise ReplyError("Invalid owner (expected: 64 hex digits, an Ed25519 public key)") from None


def text_arg(value: bytes) -> str:
    """An argument that must be UTF-8 text."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise ReplyError("Invalid argument") from None


def readable(session: Session) -> Store:
    """The session's namespace, unless it is frozen (no reading then)."""
    if session.access.state == ACCESS_FROZEN:
        raise ReplyError(FROZEN)
    return session.store


def admin(session: Session) -> None:
    """Refuse a session that has not proven the admin password."""
    if not session.admin:
        raise ReplyError(PERMISSION_DENIED)


def is_owner(session: Session, store: Store) -> bool:
    """Whether the session proved it owns the reservation ``store``."""
    owner = store.settings.owner
    return bool(owner) and session.owner_of == store.name and session.owner_key == owner


def yes(flag: bool) -> str:
    """INFO's and NSINFO's spelling of a flag."""
    return "yes" if flag else "no"


def mb(size: int) -> str:
    """A byte count in MiB as INFO and NSINFO show it."""
    return f"{size / 1048576:.2f}"
