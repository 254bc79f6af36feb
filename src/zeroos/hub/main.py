"""``run(settings)``: zero-hub with its store and zero-id (embedded children when not given)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from ..common.asgi import AsgiServer
from ..common.harness import Child, HarnessError, zos_serve
from ..common.service import listen_tcp
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
    sock = listen_tcp(settings.listen, settings.port, HubError)
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
            server = AsgiServer(
                create_app(hub, verifier),
                sock,
                part="hub",
                ready_file=settings.ready_file,
                verbose=settings.verbose,
                on_stop=verifier.aclose,
            )
            where = server.where
            announce(f"zero-hub: http://{where} (OpenAPI: http://{where}/docs)")
            announce(f"  flists in {root / 'hub'}, blocks in {store}, zero-id at {ident}")
            log.info("event=listening addresses=%s id=%s", where, ident)
            server.run()
            log.info("event=stopped")
    finally:
        sock.close()
