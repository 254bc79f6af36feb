"""A real zero-hub (`zos hub serve`) with a real zero-id and a real zero-db, and its users."""

from __future__ import annotations

import io
import itertools
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from zeroos.common.harness import Child, zos_serve
from zeroos.hub import HubClient
from zeroos.testing.servers import ZdbProcess

_names = itertools.count()


@dataclass
class Hub:
    """The hub and what it stands on, for one test session."""

    url: str
    id_url: str
    store_url: str
    data: Path

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@dataclass
class User:
    name: str
    token: str
    hub: Hub

    def client(self, active_user: str | None = None) -> HubClient:
        return HubClient(self.hub.url, token=self.token, active_user=active_user)

    def headers(self, active_user: str | None = None) -> dict[str, str]:
        extra = {"active-user": active_user} if active_user else {}
        return {"Authorization": f"bearer {self.token}", **extra}


def start_hub(root: Path, id_url: str, store: str) -> Child:
    """A `zos hub serve` child trusting ``id_url``, its blocks on ``store``."""
    argv = zos_serve("hub", "--port", "0", "--data", str(root / "data"), "--id", id_url,
                     "--store", store, "--max-upload", "8M")  # fmt: skip
    return Child(argv, root / "hub.ready", log=root / "hub.log").start(60)


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp("hub")
    zdb = ZdbProcess(root / "zdb").start()
    ident = Child(
        zos_serve(
            "id",
            "--port",
            "0",
            "--data",
            str(root / "id"),
            "--argon2-memory",
            "8192",
            "--argon2-time",
            "1",
        ),
        root / "id.ready",
        log=root / "id.log",
    )
    hub = None
    try:
        ident.start(60)
        id_url = f"http://127.0.0.1:{ident.port}"
        store = f"zdb://127.0.0.1:{zdb.port}"
        hub = start_hub(root, id_url, store)
        yield Hub(f"http://127.0.0.1:{hub.port}", id_url, store, root / "data")
    finally:
        if hub is not None:
            assert hub.stop() == 0
        ident.stop()
        zdb.stop()


def register(hub: Hub, name: str, scope: str | None = None) -> str:
    """Register ``name`` in zero-id (once) and return a password-grant token."""
    with httpx.Client(base_url=hub.id_url, timeout=30) as http:
        http.post("/api/users", json={"username": name, "password": "password123"})
        data = {"grant_type": "password", "username": name, "password": "password123"}
        if scope:
            data["scope"] = scope
        r = http.post("/v1/oauth/access_token", data=data)
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


@pytest.fixture
def new_user(hub: Hub) -> Iterator[object]:
    def make() -> User:
        name = f"user{next(_names)}"
        return User(name, register(hub, name), hub)

    return make


@pytest.fixture
def org(hub: Hub, new_user: object) -> tuple[str, User, User]:
    """An organisation: its owner, and a member whose token holds user:memberof:<org>."""
    owner, member = new_user(), new_user()  # type: ignore[operator]
    name = f"team{next(_names)}"
    with httpx.Client(base_url=hub.id_url, timeout=30) as http:
        auth = {"Authorization": f"bearer {owner.token}"}
        assert http.post("/api/organizations", json={"globalid": name}, headers=auth).is_success
        r = http.post(f"/api/organizations/{name}/members",
                      json={"searchstring": member.name}, headers=auth)  # fmt: skip
        assert r.is_success, r.text
        r = http.post(f"/api/users/{member.name}/organizations/{name}/roles/member",
                      headers={"Authorization": f"bearer {member.token}"})  # fmt: skip
        assert r.is_success, r.text
    scoped = register(hub, member.name, f"user:admin,user:memberof:{name}")
    return name, owner, User(member.name, scoped, hub)


def make_archive(path: Path, files: dict[str, bytes]) -> Path:
    """A .tar.gz of ``files`` (path -> content), folders made as needed."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    return path
