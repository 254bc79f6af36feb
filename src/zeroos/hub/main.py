"""``run(settings)``: zero-hub with its store and zero-id (embedded children when not given)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import uvicorn

from ..common.address import format_hostport
from ..common.harness import Child, HarnessError, zos_serve
from ..common.service import ReadyFile, bind_tcp, call_on_signals
from ..identity import AsyncVerifier
from .app import create_app
from .errors import HubError, StoreError
from .repository import Repositories
from .seed import seed
from .service import Hub, Limits
from .settings import HubSettings

log = logging.getLogger("zeroos.hub")


def _child(argv: list[str], root: Path, name: str) -> Child:
    """Start one embedded server under ``root`` (its log in ``root/<name>.log``)."""
    child = Child(
        argv,
        root / f"{name}.ready",
        log=root / f"{name}.log",
        die_with_parent=True,
        name=f"the embedded {name}",
    )
    try:
        return child.start(60.0)
    except HarnessError as exc:
        raise StoreError(f"{exc} (see {root / f'{name}.log'})") from exc


@contextlib.contextmanager
def embedded(settings: HubSettings, root: Path) -> Iterator[tuple[str, str]]:
    """The store URL and zero-id URL to use: the settings', or embedded children's."""
    children: list[Child] = []
    try:
        store = settings.store
        if store is None:
            zdb = root / "zdb"
            argv = zos_serve("zdb", "--port", "0", "--data", str(zdb / "data"),
                             "--index", str(zdb / "index"))  # fmt: skip
            children.append(_child(argv, root, "zero-db"))
            store = f"zdb://127.0.0.1:{children[-1].port}"
        ident = settings.id
        if ident is None:
            argv = zos_serve("id", "--port", "0", "--data", str(root / "zero-id"))
            children.append(_child(argv, root, "zero-id"))
            ident = f"http://127.0.0.1:{children[-1].port}"
        yield store, ident
    finally:
        for child in reversed(children):
            child.stop()


def run(settings: HubSettings, announce: Callable[[str], None] = print) -> None:
    """Serve until SIGINT or SIGTERM; ``announce`` is told where everything is."""
    root = Path(settings.data).absolute()
    root.mkdir(parents=True, exist_ok=True)
    try:
        sock = bind_tcp(settings.listen, settings.port)
    except OSError as exc:
        raise HubError(f"cannot listen on {settings.listen}:{settings.port}: {exc}") from exc
    ready = ReadyFile(settings.ready_file, "hub")
    where = format_hostport(settings.listen, sock.getsockname()[1])
    try:
        with embedded(settings, root) as (store, ident):
            hub = Hub(
                Repositories(root / "hub"),
                store,
                Limits(upload=settings.max_upload, expand=settings.max_expand),
                timeout=settings.timeout,
                id_cache=root / "hub" / "idcache.sqlite",
            )
            if settings.seed:
                for name in seed(hub):
                    announce(f"  built {name} from the installed zeroos")
            verifier = AsyncVerifier(ident, audience=settings.audience)
            config = uvicorn.Config(
                create_app(hub, verifier),
                log_config=None,
                log_level="info" if settings.verbose else "warning",
                access_log=False,  # tokens may travel in query strings of old clients
                timeout_graceful_shutdown=5,
            )
            server = uvicorn.Server(config)

            def stop_early() -> None:
                server.should_exit = True

            call_on_signals(stop_early)
            announce(f"zero-hub: http://{where} (OpenAPI: http://{where}/docs)")
            announce(f"  flists in {root / 'hub'}, blocks in {store}, zero-id at {ident}")
            log.info("event=listening addresses=%s id=%s", where, ident)
            asyncio.run(_serve(server, sock, lambda: ready.write([where]), verifier))
            log.info("event=stopped")
    finally:
        ready.remove()
        sock.close()


async def _serve(
    server: uvicorn.Server, sock: object, on_ready: Callable[[], None], verifier: AsyncVerifier
) -> None:
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))  # type: ignore[list-item]
    try:
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if server.started:
            on_ready()
        await serving
    finally:
        await verifier.aclose()
