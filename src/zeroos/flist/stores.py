"""Block stores named by URL, and the router that spreads blocks over them by id prefix.

``dir:///path``: one file per block, ``path/<2 hex>/<64 hex>`` (rfs's layout; the flat
``path/<64 hex>`` of older rfs is read too). ``zdb://[:password@]host:port/namespace``: a
zero-db namespace, the block under its 32-byte id (rfs's layout). ``zstor://path/to/zstor.yaml``:
our zero-stor, the block under its id in hex, with zero-stor's own compression and encryption
turned off (the block is already both).

Every store is synchronous, thread-safe and bounded by a timeout; an unreachable store raises
StoreUnavailable naming its URL (password hidden), an absent block BlockError.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from .errors import BlockError, FlistError, StoreUnavailable
from .models import Route

if TYPE_CHECKING:
    from ..stor import Stor
    from ..zdb import Client, TrioClient
    from .format import Flist

_T = TypeVar("_T")
_RANGE = re.compile(r"^([0-9a-fA-F]{2})-([0-9a-fA-F]{2})=(.+)$")


@runtime_checkable
class BlockStore(Protocol):
    """Where stored blocks (ciphertext, by id) are kept."""

    url: str

    def get(self, id: bytes) -> bytes: ...

    def put(self, id: bytes, data: bytes) -> None: ...

    def has(self, id: bytes) -> bool: ...

    def close(self) -> None: ...


def redact(url: str) -> str:
    """A store URL fit for messages: any password replaced by ``***``."""
    return _password_as(url, ":***")


def without_password(url: str) -> str:
    """A store URL as readers name it (an flist's routes): any password left out; a public
    zero-db namespace lets anyone read, and only its password holders write."""
    return _password_as(url, "")


def _password_as(url: str, password: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username or ''}{password}"
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))


def has_many(store: BlockStore, ids: Sequence[bytes]) -> list[bool]:
    """Which of ``ids`` the store holds: the store's batch call when it has one."""
    batch = getattr(store, "has_many", None)
    if batch is not None:
        result: list[bool] = batch(ids)
        return result
    return [store.has(i) for i in ids]


def get_many(store: BlockStore, ids: Sequence[bytes]) -> list[bytes | None]:
    """The stored bytes of several blocks, None for each the store does not hold: the
    store's batch call (one round trip) when it has one, else one get after the other."""
    batch = getattr(store, "get_many", None)
    if batch is not None:
        result: list[bytes | None] = batch(ids)
        return result
    found: list[bytes | None] = []
    for block in ids:
        try:
            found.append(store.get(block))
        except BlockError:
            found.append(None)
    return found


def one_failure(errors: Sequence[FlistError]) -> FlistError:
    """The one error of a block that no store gave: a store being unreachable says more than
    another not holding it (the block may well be on the one that is down)."""
    unavailable = [e for e in errors if isinstance(e, StoreUnavailable)]
    if unavailable:
        return StoreUnavailable(str(unavailable[0]))
    return BlockError(str(errors[0]))


class DirStore:
    """Blocks as files under a local directory."""

    def __init__(self, url: str, root: Path) -> None:
        self.url = url
        self.root = root

    def _path(self, id: bytes) -> Path:
        name = id.hex()
        return self.root / name[:2] / name

    def get(self, id: bytes) -> bytes:
        for path in (self._path(id), self.root / id.hex()):
            try:
                return path.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreUnavailable(f"store {self.url}: {exc.strerror}: {path}") from exc
        raise BlockError(f"block {id.hex()} is not in store {self.url}")

    def put(self, id: bytes, data: bytes) -> None:
        path = self._path(id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # write then rename: a reader never sees half a block
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            raise StoreUnavailable(f"store {self.url}: {exc.strerror}: {path}") from exc

    def has(self, id: bytes) -> bool:
        return self._path(id).exists() or (self.root / id.hex()).exists()

    def close(self) -> None:
        pass


class ZdbStore:
    """Blocks in one zero-db namespace, keyed by their raw 32-byte id (as rfs does)."""

    def __init__(
        self, url: str, client: Client, trio_client: Callable[[], TrioClient] | None = None
    ) -> None:
        self.url = redact(url)
        self._client = client
        self._make_trio = trio_client
        self._trio: TrioClient | None = None

    @contextlib.contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        """zero-db's errors as the store's: the one place they are turned into them."""
        from ..zdb.errors import ZdbConnectionError, ZdbError

        try:
            yield
        except ZdbConnectionError as exc:
            raise StoreUnavailable(f"store {self.url} is unreachable: {exc}") from exc
        except ZdbError as exc:
            raise StoreUnavailable(f"store {self.url} refused {what}: {exc}") from exc

    def _call(self, what: str, fn: Callable[..., _T], *args: bytes) -> _T:
        with self._translated(what):
            return fn(*args)

    def get(self, id: bytes) -> bytes:
        data = self._call("GET", self._client.get, id)
        if not data:
            raise BlockError(f"block {id.hex()} is not in store {self.url}")
        return bytes(data)

    def open_trio(self) -> TrioClient:
        """The trio client, made now if it is not yet (a mount makes it before it shows, so
        that its first read does not wait for the client's imports)."""
        if self._trio is None:
            if self._make_trio is None:
                raise StoreUnavailable(f"store {self.url} has no trio client")
            self._trio = self._make_trio()
        return self._trio

    async def aget_many(self, ids: Sequence[bytes]) -> list[bytes | None]:
        """Several blocks in one MGET (0-db's; a thousand keys a command), None for each it
        does not hold, on trio's loop (the mount's) through the trio client."""
        client = self.open_trio()
        with self._translated("MGET"):
            values = await client.mget(ids)
        return [v or None for v in values]

    def put(self, id: bytes, data: bytes) -> None:
        self._call("SET", self._client.set, id, data)

    def has(self, id: bytes) -> bool:
        return bool(self._call("EXISTS", self._client.exists, id))

    def has_many(self, ids: Sequence[bytes]) -> list[bool]:
        """Which of ``ids`` the namespace holds: EXISTS pipelined (a round trip a thousand)."""
        return self._call("EXISTS", lambda: self._client.exists_many(ids))

    def close(self) -> None:
        self._client.close()
        if self._trio is not None:
            self._trio.close()


class ZstorStore:
    """Blocks as zero-stor files named by their id in hex."""

    def __init__(self, url: str, stor: Stor) -> None:
        self.url = url
        self._stor = stor

    def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        from ..stor.errors import FileNotFound, ShardUnavailable, StorError

        try:
            return fn(*args)
        except FileNotFound as exc:
            raise BlockError(f"block is not in store {self.url}") from exc
        except ShardUnavailable as exc:
            raise StoreUnavailable(f"store {self.url} is unreachable: {exc}") from exc
        except StorError as exc:
            raise BlockError(f"store {self.url}: {exc}") from exc

    def get(self, id: bytes) -> bytes:
        return self._call(self._stor.read, id.hex())

    def put(self, id: bytes, data: bytes) -> None:
        self._call(self._stor.put, id.hex(), data)

    def has(self, id: bytes) -> bool:
        return bool(self._call(self._stor.exists, id.hex()))

    def health(self, id: bytes) -> str | None:
        """None when every shard of the block is intact, else zero-stor's verdict."""
        result = self._call(self._stor.check, id.hex())
        if result.status == "optimal":
            return None
        shards = f"{result.bad_shards} bad shards"
        return f"block {id.hex()} is {result.status} in store {self.url} ({shards})"

    def repair(self, id: bytes) -> str:
        """Rebuild the block's lost shards; zero-stor's verdict after it."""
        return str(self._call(self._stor.repair, id.hex()).after)

    def close(self) -> None:
        self._stor.close()


def _open_zstor(url: str, config_path: str, timeout: float) -> ZstorStore:
    from ..stor import Stor, load_config
    from ..stor.errors import StorError

    try:
        config = load_config(config_path)
    except StorError as exc:
        raise FlistError(f"store {url}: {exc}") from exc
    pipeline = config.datastor.pipeline
    # the flist block is already compressed and encrypted: doing it again costs CPU for nothing
    pipeline = pipeline.model_copy(
        update={
            "compression": pipeline.compression.model_copy(update={"type": "none"}),
            "encryption": pipeline.encryption.model_copy(
                update={"type": "none", "private_key": None}
            ),
        }
    )
    datastor = config.datastor.model_copy(update={"pipeline": pipeline})
    config = config.model_copy(
        update={"datastor": datastor, "timeout": min(config.timeout, timeout)}
    )
    return ZstorStore(url, Stor(config))


def open_store(url: str, *, timeout: float = 10.0) -> BlockStore:
    """The store a URL names; nothing is contacted until the first call."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "dir":
        path = urlsplit(url).path
        if not path:
            raise FlistError(f"{url!r}: a dir store needs a path: dir:///path/to/blocks")
        return DirStore(url, Path(path))
    if scheme == "zdb":
        from ..zdb import Client
        from ..zdb.client import parse_url

        try:
            kwargs = parse_url(url)
        except ValueError as exc:
            raise FlistError(str(exc)) from exc
        client = Client(**kwargs, timeout=timeout, max_connections=32)
        return ZdbStore(url, client, functools.partial(_trio_client, kwargs, timeout))
    if scheme == "zstor":
        path = url.split("://", 1)[1]
        if not path:
            raise FlistError(f"{url!r}: a zstor store needs a config: zstor://path/to/zstor.yaml")
        return _open_zstor(url, path, timeout)
    raise FlistError(
        f"{redact(url)!r}: unknown store (use dir:///path, zdb://host:port/namespace "
        "or zstor://path/to/zstor.yaml)"
    )


def _trio_client(kwargs: dict[str, Any], timeout: float) -> TrioClient:
    # imported when a mount first reads: flist's other tools never load trio
    from ..zdb.client.triodriver import TrioClient

    return TrioClient(**kwargs, timeout=timeout, max_connections=8)


def parse_routes(specs: Iterable[str]) -> list[Route]:
    """Routes from ``URL`` (every id) or ``XX-YY=URL`` (ids whose first byte is in XX..YY)."""
    routes = []
    for spec in specs:
        match = _RANGE.match(spec)
        if match:
            start, end = int(match.group(1), 16), int(match.group(2), 16)
            if start > end:
                raise FlistError(f"{redact(spec)!r}: the range's start is past its end")
            routes.append(Route(start, end, match.group(3)))
        else:
            routes.append(Route(0, 255, spec))
    if not routes:
        raise FlistError("no store given: add --store URL (e.g. dir:///var/cache/blocks)")
    return routes


def flist_routes(flist: Flist, store_urls: Sequence[str] | None) -> list[Route]:
    """The routes to read an flist's blocks by: the given store URLs, or the flist's own."""
    return parse_routes(store_urls) if store_urls else flist.routes()


class Router:
    """A BlockStore over several stores, each serving a range of id first bytes (as rfs).

    get tries each matching store in turn; put writes to every matching store (a range listed
    twice is replicated); has is true when every matching store holds the block. Stores are
    opened on first use, so an flist naming unreachable stores can still be listed.
    """

    def __init__(self, routes: Sequence[Route], timeout: float = 10.0) -> None:
        if not routes:
            raise FlistError("the flist has no routes: it does not say where its blocks are")
        self.routes = list(routes)
        self.timeout = timeout
        self.url = ", ".join(dict.fromkeys(redact(r.url) for r in self.routes))
        self._stores: dict[str, BlockStore] = {}
        self._pool = ThreadPoolExecutor(16, thread_name_prefix="flist-has")

    def store(self, url: str) -> BlockStore:
        found = self._stores.get(url)
        if found is None:
            found = self._stores.setdefault(url, open_store(url, timeout=self.timeout))
        return found

    def _urls(self, id: bytes) -> list[str]:
        if not id:
            raise BlockError("an empty block id")
        urls = list(dict.fromkeys(r.url for r in self.routes if r.matches(id[0])))
        if not urls:
            raise FlistError(f"block {id.hex()}: no route serves ids starting with {id[0]:02x}")
        return urls

    def _matching(self, id: bytes) -> list[BlockStore]:
        return [self.store(u) for u in self._urls(id)]

    def candidates(self, id: bytes) -> list[BlockStore]:
        """The stores that serve a block, in the order a read tries them."""
        return self._matching(id)

    def get(self, id: bytes) -> bytes:
        errors: list[FlistError] = []
        for store in self._matching(id):
            try:
                return store.get(id)
            except (StoreUnavailable, BlockError) as exc:
                errors.append(exc)
        raise one_failure(errors)

    def put(self, id: bytes, data: bytes) -> None:
        for store in self._matching(id):
            store.put(id, data)

    def has(self, id: bytes) -> bool:
        return all(store.has(id) for store in self._matching(id))

    def has_many(self, ids: Sequence[bytes]) -> list[bool]:
        """Which of ``ids`` every matching store holds: each store asked once for all of its
        ids (by its batch call; one at a time on the pool when it has none)."""
        wanted: dict[str, list[bytes]] = {}
        for block in dict.fromkeys(ids):
            for url in self._urls(block):
                wanted.setdefault(url, []).append(block)
        missing: set[bytes] = set()
        for url, blocks in wanted.items():
            store = self.store(url)
            batch = getattr(store, "has_many", None)
            found = batch(blocks) if batch is not None else self._pool.map(store.has, blocks)
            missing.update(b for b, there in zip(blocks, found, strict=True) if not there)
        return [i not in missing for i in ids]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for store in self._stores.values():
            store.close()
        self._stores.clear()
