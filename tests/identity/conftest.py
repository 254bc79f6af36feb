"""A real zero-db (zero-id's embedded child process) and zero-id servers over real HTTP."""

from __future__ import annotations

import base64
import itertools
import select
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from zeroos.common.service import bind_tcp
from zeroos.identity.passwords import HashCost
from zeroos.identity.sealed import Sealer
from zeroos.identity.server import EmbeddedZdb, IdentityServer, make_identity
from zeroos.identity.service import Identity, Settings
from zeroos.identity.throttle import Limits

FAST_HASH = HashCost(time_cost=1, memory_kib=8192, parallelism=1)  # tests only: fast argon2id
SEALER = Sealer.generate()  # one key for every zero-id of the session, as one key file would be
_names = itertools.count()


@dataclass
class Running:
    server: IdentityServer
    identity: Identity
    url: str
    namespace: str

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


@pytest.fixture(scope="session")
def zdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedZdb]:
    server = EmbeddedZdb(tmp_path_factory.mktemp("zeroid-zdb")).start()
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="session")
def start_id(zdb: EmbeddedZdb) -> Iterator[Callable[..., Running]]:
    """Start a zero-id on its own namespace of the shared zero-db; all stopped at the end."""
    started: list[Running] = []

    def start(namespace: str | None = None, **settings: Any) -> Running:
        namespace = namespace or f"zeroid{next(_names)}"
        sock = bind_tcp("127.0.0.1", 0)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        settings.setdefault("issuer", url)
        settings.setdefault("hash_cost", FAST_HASH)
        settings.setdefault("limits", Limits(per_user=50, per_address=500, window=60))
        identity = make_identity(zdb.client(namespace), Settings(**settings), SEALER)
        server = IdentityServer(identity, sock).start()
        running = Running(server, identity, url, namespace)
        started.append(running)
        return running

    yield start
    for running in started:
        running.server.stop()
        running.identity.store.close()


@pytest.fixture(scope="session")
def ident(start_id: Callable[..., Running]) -> Running:
    """The zero-id most tests share; each test uses its own user and organisation names."""
    return start_id("zeroid")


@pytest.fixture
def http(ident: Running) -> Iterator[httpx.Client]:
    with ident.http() as client:
        yield client


class Actor:
    """A registered user with a full token."""

    def __init__(self, http: httpx.Client, name: str, password: str = "password123") -> None:
        self.http = http
        self.name = name
        self.password = password
        r = http.post("/api/users", json={"username": name, "password": password})
        assert r.status_code == 201, r.text
        self.token = login(http, name, password)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"bearer {self.token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers=self.auth, **kwargs)


def login(http: httpx.Client, name: str, password: str) -> str:
    r = http.post(
        "/v1/oauth/access_token",
        data={"grant_type": "password", "username": name, "password": password},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


P384_ORDER = int(
    "ffffffffffffffffffffffffffffffffffffffffffffffff"
    "c7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    16,
)


def signature(token: str) -> tuple[int, int]:
    """The (r, s) of an ES384 token."""
    raw = base64.urlsafe_b64decode(token.rpartition(".")[2] + "==")
    return int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big")


def with_s(token: str, s: int) -> str:
    """``token`` with its signature's s replaced (n - s is the malleable twin)."""
    r = signature(token)[0]
    raw = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    return token.rpartition(".")[0] + "." + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def low_s(token: str) -> str:
    """``token`` signed as zero-id signs (s <= n/2), whichever of the twins pyjwt made."""
    s = signature(token)[1]
    return with_s(token, min(s, P384_ORDER - s))


_users = itertools.count()


@pytest.fixture
def new_user(http: httpx.Client) -> Callable[[], Actor]:
    def make() -> Actor:
        return Actor(http, f"u{next(_users)}x{id(http) % 10000}")

    return make


_orgs = itertools.count()


@pytest.fixture
def org_name() -> Callable[[], str]:
    return lambda: f"org{next(_orgs)}-{id(object()) % 100000}"


def chunked_flood(url: str, path: str, ctype: str, limit: int = 300 * 2**20) -> tuple[int, bytes]:
    """POST up to ``limit`` bytes in 64 KiB chunks, stopping as soon as the server answers;
    the bytes sent, and the answer."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    sent = 0
    with socket.create_connection((host, port), timeout=30) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ctype}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        try:
            while sent < limit and not select.select([sock], [], [], 0)[0]:
                sock.sendall(chunk)
                sent += 0x10000
        except OSError:
            pass  # the server closed its side: its answer is still there to read
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return sent, answer
