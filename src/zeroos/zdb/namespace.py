"""A namespace's settings: password, visibility, reservation size, write rules and key mode."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from .errors import ZdbError

Mode = Literal["user", "seq"]
MODES: tuple[Mode, ...] = ("user", "seq")
DEFAULT_NAMESPACE = "default"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


@dataclass(slots=True)
class NamespaceSettings:
    """What NSSET changes; persisted by the engine beside the namespace's data."""

    password: str | None = None
    public: bool = True
    maxsize: int = 0  # bytes; 0 means no reservation limit
    worm: bool = False
    mode: Mode = "user"
    # a reservation (RESERVE): the owner's Ed25519 public key (hex), when it expires (unix
    # seconds) and its state: "active", "expired" (read-only) or "released" (data dropped)
    owner: str | None = None
    expiry: int = 0
    state: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NamespaceSettings:
        known = {f.name for f in fields(cls)}
        settings = cls(**{k: v for k, v in data.items() if k in known})
        if settings.mode not in MODES:
            raise ZdbError(f"namespace settings hold an unknown mode {settings.mode!r}")
        return settings


def valid_name(name: str) -> bool:
    """Whether a namespace name is safe to use as a directory name."""
    return bool(_NAME.match(name)) and name not in {".", ".."}
