"""How an awaiting driver runs the steps: written once for the asyncio and the trio clients.

A driver class mixes :class:`Awaited` in before :class:`~.steps.Commands` and provides
``async _execute(command, read_timeout)``: one command (or :class:`~.steps.Pipelined` commands)
on a connection in the client's namespace, its raw reply, zero-db's errors raised.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, Protocol, TypeVar

from ..errors import ZdbError
from .replies import Command
from .steps import Login, Pipelined, Request, Run, Send

_T = TypeVar("_T")


class LoginConnection(Protocol):
    """A connection an awaiting driver logs in: it sends commands, reads replies, and knows
    the login it is in."""

    zdb_login: Login | None

    def send_command(self, *args: Any) -> Awaitable[None]: ...

    def read_response(self) -> Awaitable[Any]: ...


async def log_in(conn: LoginConnection, steps: Generator[Command, Any, Login]) -> None:
    """Run login steps on one connection: it is in their login once they succeed (and in
    none known while they run, so that a failure is never taken for the old login)."""
    conn.zdb_login = None
    run = Run(steps)
    command = run.advance()
    while command is not None:
        await conn.send_command(*command)
        command = run.advance(await conn.read_response())
    conn.zdb_login = run.result


class Awaited:
    """Dialogs, streams and one-request methods of a client whose ``_execute`` is awaited."""

    async def _execute(
        self, command: Command | Pipelined | None, read_timeout: float | None = None
    ) -> Any:
        raise NotImplementedError

    async def _exchange(self, request: Send) -> tuple[Any, ZdbError | None]:
        """One request of a dialog or stream: its reply, or the zero-db error it met."""
        try:
            if isinstance(request, Request):
                return await self._execute(request.command, request.read_timeout), None
            return await self._execute(request), None
        except ZdbError as exc:
            return None, exc

    async def _talk(self, steps: Generator[Any, Any, _T]) -> _T:
        """Run a dialog's steps to their result."""
        run = Run(steps)
        request = run.advance()
        while request is not None:
            request = run.advance(*await self._exchange(request))
        return run.result  # type: ignore[no-any-return]

    async def _flow(self, steps: Generator[Any, Any, None]) -> AsyncIterator[Any]:
        """Run a stream's steps, handing out its batches' items as they come."""
        run = Run(steps)
        request = run.advance()
        while True:
            for item in run.take():
                yield item
            if request is None:
                return
            request = run.advance(*await self._exchange(request))

    _call_source = (
        "async def method({params}):\n    return read(await self._execute(build({args})))"
    )

    @staticmethod
    def _dialog_method(steps: Callable[..., Generator[Any, Any, Any]]) -> Callable[..., Any]:
        async def dialog(self: Awaited, /, *args: Any, **kwargs: Any) -> Any:
            return await self._talk(steps(self, *args, **kwargs))

        return dialog


__all__ = ["Awaited", "LoginConnection", "log_in"]
