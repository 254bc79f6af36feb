"""``run(settings)``: zero-hub with its store and zero-id (embedded children when not given)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from ..common.asgi import AsgiServer
from ..common.errors import ZosError
from ..common.harness import Child, HarnessError, zos_serve
from ..common.service import listen_tcp
from ..identity import AsyncVerifier
from ..identity.server import EmbeddedZdb
from ..zdb import Client, NamespaceNotFound, ZdbError
from .app import create_app
from .errors import HubError, StoreError
from .repository import Repositories
from .reuse import Archives
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


BLOCKS_NAMESPACE = "hub"


@contextlib.contextmanager
def embedded(settings: HubSettings, root: Path) -> Iterator[tuple[str, str]]:
    """The store URL and zero-id URL to use: the settings', or embedded children's."""
    with contextlib.ExitStack() as stack:
        store = _given_store(settings)
        if store is None:
            zdb = EmbeddedZdb(root / "zdb")
            stack.callback(zdb.stop)
            store = _blocks_namespace(zdb)
        ident = settings.id
        if ident is None:
            argv = zos_serve("id", "--port", "0", "--data", str(root / "zero-id"))
            ident = f"http://127.0.0.1:{stack.enter_context(_child(argv, root, 'zero-id')).port}"
        yield store, ident


def _given_store(settings: HubSettings) -> str | None:
    if settings.stor is None:
        return settings.store
    if settings.store is not None:
        raise HubError("give --stor zstor.yaml or --store URL, not both")
    config = Path(settings.stor).absolute()
    if not config.is_file():
        raise HubError(f"--stor {settings.stor}: no such zero-stor config file")
    return f"zstor://{config}"


def _blocks_namespace(zdb: EmbeddedZdb) -> str:
    """Start the embedded zero-db (a random admin password, kept 0600 under its folder, as
    zero-id's) and the namespace of the blocks in it: public, so that anyone mounting a served
    flist reads blocks without a password; written only with its password, which the hub's
    own store URL holds (flists name the store without it)."""
    try:
        zdb.start(60.0)
        with Client(unix_socket=str(zdb.socket), admin_password=zdb.admin) as admin:
            try:
                admin.nsinfo(BLOCKS_NAMESPACE)
            except NamespaceNotFound:
                admin.nsnew(BLOCKS_NAMESPACE)
            # again at every start: a namespace made before it had them gets them
            admin.nsset(BLOCKS_NAMESPACE, "password", zdb.password)
            admin.nsset(BLOCKS_NAMESPACE, "public", True)
    except (ZosError, ZdbError) as exc:
        raise StoreError(f"the embedded zero-db: {exc} (see {zdb.root})") from exc
    return _url(zdb)


def _url(zdb: EmbeddedZdb) -> str:
    return f"zdb://:{zdb.password}@127.0.0.1:{zdb.port}/{BLOCKS_NAMESPACE}"


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
                archives=Archives(root / "hub" / "archives"),
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
            announce(f"  flists in {root / 'hub'}, blocks in {hub.routes_url}, zero-id at {ident}")
            log.info("event=listening addresses=%s id=%s", where, ident)
            server.run()
            log.info("event=stopped")
    finally:
        sock.close()
