"""Who may drive the node: a zero-id JWT naming the node's organisation, as the redis password."""

from __future__ import annotations

from typing import Protocol

from ..identity.errors import IdentityError
from ..identity.verify import AsyncVerifier


class Gate(Protocol):
    """Checks a redis AUTH password; None when it lets the client in, else the refusal line."""

    open: bool  # no AUTH needed at all

    async def check(self, password: str) -> str | None: ...

    async def aclose(self) -> None: ...


class OpenGate:
    """--dev: everyone is let in (the node listens on loopback only)."""

    open = True

    async def check(self, password: str) -> str | None:
        return None

    async def aclose(self) -> None:
        return None


class TokenGate:
    """A client's password must be a valid zero-id token holding ``user:memberof:<org>``."""

    open = False

    def __init__(self, zero_id: str, org: str, *, timeout: float = 10.0) -> None:
        self.scope = f"user:memberof:{org}"
        self.verifier = AsyncVerifier(zero_id, timeout=timeout)

    async def check(self, password: str) -> str | None:
        try:
            await self.verifier.verify(password, scope=self.scope)
        except IdentityError as exc:
            return f"WRONGPASS invalid token: {exc}"
        return None

    async def aclose(self) -> None:
        await self.verifier.aclose()


__all__ = ["Gate", "OpenGate", "TokenGate"]
