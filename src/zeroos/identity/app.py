"""zero-id's ASGI app: the routes of :mod:`zeroos.identity.routes` behind a guard that limits
request bodies, logs each request, and hands the token endpoint to :class:`TokenEndpoint`.
"""

import logging
import time

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import TooLarge
from .oauth import MAX_BODY, TOKEN_PATH, TokenEndpoint, error_response
from .routes import create_api
from .service import Identity

log = logging.getLogger("zeroos.identity")


class _Limited:
    """One request's receive and send, counting the body as it arrives.

    Past MAX_BODY (whatever the framing: a Content-Length that lies, or chunks without one) it
    answers 413 itself at once, with ``Connection: close`` so that the server reads no more,
    tells the app the client left, and drops what the app sends after.
    """

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.size = 0
        self.status = 0  # of the answer sent, for the request log
        self.answered = False

    async def receive(self) -> Message:
        if self.answered:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.size += len(message.get("body", b""))
            if self.size > MAX_BODY:
                if not self.status:
                    await _too_large(self.scope, self._send)
                    self.status = TooLarge.status
                self.answered = True
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


async def _too_large(scope: Scope, send: Send) -> None:
    response = error_response(TooLarge(f"request body over {MAX_BODY} bytes"))
    response.headers["Connection"] = "close"

    async def nothing() -> Message:  # a JSONResponse reads nothing
        return {"type": "http.disconnect"}

    await response(scope, nothing, send)


class _Guard:
    """Refuse oversized bodies (413, see :class:`_Limited`); log each request's path and time;
    hand ``POST /v1/oauth/access_token`` to ``token`` (see :mod:`zeroos.identity.oauth`).

    A plain ASGI app around FastAPI's: Starlette's @app.middleware("http") wraps every request
    in an extra task and memory streams, which doubled the cost of small requests, and FastAPI's
    own middleware stack (error, telemetry and body-limit layers) is not needed for the token
    endpoint, which answers its errors itself.
    """

    def __init__(self, app: ASGIApp, token: ASGIApp) -> None:
        self.app = app
        self.token = token
        # what took the request, as the router would say it (/metrics counts by route)
        self.token_route = Route(TOKEN_PATH, token, methods=["POST"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > MAX_BODY:
                    await _too_large(scope, send)
                    return
                break
        app = self.app
        if scope["path"] == TOKEN_PATH and scope["method"] == "POST":
            app = self.token
            scope["route"] = self.token_route
        limited = _Limited(scope, receive, send)
        start = time.perf_counter()
        try:
            await app(scope, limited.receive, limited.send)
        except Exception:
            if not limited.answered:
                raise
            # the app saw the client leave when the body passed the limit: answered already
        if log.isEnabledFor(logging.DEBUG):
            # the path only: query strings may hold secrets
            log.debug(
                "event=request method=%s path=%s status=%d ms=%.1f",
                scope["method"],
                scope["path"],
                limited.status,
                (time.perf_counter() - start) * 1000,
            )


def create_app(identity: Identity) -> ASGIApp:
    """zero-id's ASGI app: FastAPI's routes behind :class:`_Guard`."""
    token = TokenEndpoint(identity)
    return _Guard(create_api(identity, token), token)


__all__ = ["MAX_BODY", "create_api", "create_app"]
