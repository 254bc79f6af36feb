"""The hub's own flists: zeroos/zero-db.fl built from the installed zeroos at start."""

from __future__ import annotations

import json
from pathlib import Path

import zeroos.hub
from zeroos.flist.extract import extract
from zeroos.hub import HubClient
from zeroos.hub.repository import Repositories
from zeroos.hub.seed import SITE, seed
from zeroos.hub.service import Hub as HubService

from .conftest import Hub


def test_the_served_hub_holds_zero_db(hub: Hub, tmp_path: Path) -> None:
    with HubClient(hub.url) as client:
        assert "zeroos/zero-db.fl" in client.flists()
        contents = client.contents("zeroos", "zero-db.fl")
        assert json.loads(contents["tags"]["entrypoint"])[-2:] == ["zdb", "serve"]
        paths = {e["path"] for e in contents["entries"]}
        assert f"/{SITE}/zeroos/zdb/main.py" in paths
        assert not any("__pycache__" in p for p in paths)
        client.download("zeroos", "zero-db.fl", tmp_path / "zdb.fl")
    extract(tmp_path / "zdb.fl", tmp_path / "root")
    installed = Path(zeroos.hub.__file__).parent.parent / "zdb" / "main.py"
    assert (tmp_path / "root" / SITE / "zeroos/zdb/main.py").read_bytes() == installed.read_bytes()


def test_seed_builds_once_and_again_only_when_stale(tmp_path: Path) -> None:
    service = HubService(Repositories(tmp_path / "data"), f"dir://{tmp_path / 'blocks'}")
    assert seed(service) == ["zeroos/zero-db.fl"]
    assert seed(service) == []  # current: not rebuilt
    from zeroos.flist.edit import set_tag

    set_tag(service.repos.path("zeroos", "zero-db.fl"), "zeroos-digest", "older")
    assert seed(service) == ["zeroos/zero-db.fl"]
