"""A small ASGI app for the shared HTTP helpers' tests: answers of every kind, slow ones too.

Run as a script (``python asgi_app.py READY_FILE``) it serves itself with
:class:`zeroos.common.asgi.AsgiServer` on a free loopback port, as a part's ``run`` does.
"""

from __future__ import annotations

import asyncio
import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from zeroos.common.asgi import AsgiServer
from zeroos.common.service import listen_tcp


async def ok(request: Request) -> Response:
    """0-hub's envelope around a payload."""
    return JSONResponse({"status": "success", "payload": {"echo": request.query_params.get("x")}})


async def bare(_: Request) -> Response:
    """A successful JSON answer without the envelope."""
    return JSONResponse({"echo": "bare"})


async def text(_: Request) -> Response:
    return PlainTextResponse("just text")


async def empty(_: Request) -> Response:
    return Response(status_code=204)


async def refuse(request: Request) -> Response:
    """A refusal with the status asked for and a reason in both usual fields."""
    status = int(request.path_params["status"])
    reason = f"refused with {status}: the flist x does not exist"
    return JSONResponse({"message": reason, "error_description": reason}, status_code=status)


IN_FLIGHT = [0]  # slow requests being answered now, so that a test knows one is in flight


async def slow(request: Request) -> Response:
    """Answer after ``seconds`` (a request in flight, or one that outlasts a timeout)."""
    IN_FLIGHT[0] += 1
    try:
        await asyncio.sleep(float(request.query_params.get("seconds", "1")))
    finally:
        IN_FLIGHT[0] -= 1
    return JSONResponse({"status": "success", "payload": "slept"})


BLOB = bytes(range(256)) * 8192  # 2 MiB: more than one chunk of a download


async def blob(_: Request) -> Response:
    return Response(BLOB, media_type="application/octet-stream")


async def moved(_: Request) -> Response:
    return RedirectResponse("/blob", status_code=302)


async def in_flight(_: Request) -> Response:
    return JSONResponse(IN_FLIGHT[0])


app = Starlette(
    routes=[
        Route("/ok", ok),
        Route("/bare", bare),
        Route("/text", text),
        Route("/empty", empty),
        Route("/refuse/{status:int}", refuse),
        Route("/slow", slow),
        Route("/in-flight", in_flight),
        Route("/blob", blob),
        Route("/moved", moved),
    ]
)


if __name__ == "__main__":
    AsgiServer(app, listen_tcp("127.0.0.1", 0), part="test", ready_file=sys.argv[1]).run()
