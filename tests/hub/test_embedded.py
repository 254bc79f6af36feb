"""zero-hub on embedded defaults: its own zero-id, and its own zero-db, which only it writes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from zeroos.common.harness import Child, zos_serve
from zeroos.flist.format import Flist
from zeroos.hub import HubClient

from .conftest import Hub as HubInfo
from .conftest import make_archive, register


def test_embedded_zero_db_has_secrets_and_refuses_others_writes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    argv = zos_serve("hub", "--port", "0", "--data", str(data), "--no-seed")
    log = tmp_path / "hub.log"
    with Child(argv, tmp_path / "hub.ready", log=log, name="zero-hub").start(120) as child:
        text = log.read_text()
        ident = re.search(r"zero-id at (http://\S+)", text)
        assert ident, text
        secret = data / "zdb" / "zdb.secret"
        assert secret.stat().st_mode & 0o777 == 0o600
        kept = json.loads(secret.read_text())
        assert kept["admin"] not in text  # what serve printed holds no password
        assert kept["namespace"] not in text
        url = f"http://127.0.0.1:{child.port}"
        token = register(HubInfo(url, ident.group(1), "", data), "erin")
        with HubClient(url, token=token) as client:
            client.upload(make_archive(tmp_path / "e.tar.gz", {"a": b"x" * 100_000}))
            client.download("erin", "e.fl", tmp_path / "e.fl")
        with Flist.open(tmp_path / "e.fl") as fl:
            (route,) = fl.routes()
            ids = [ref.id for _, ref in fl.all_blocks()]
        store = urlsplit(route.url)
        assert store.password is None  # flists name the store without its password
        assert store.path == "/hub"
        with redis.Redis(port=store.port, socket_timeout=10) as conn:
            # anyone reads the blocks (mounting a served flist needs it) ...
            assert conn.execute_command("SELECT", "hub") is True
            assert conn.execute_command("GET", ids[0])
            # ... nobody without the namespace's password deletes or writes one ...
            for command in (("DEL", ids[0]), ("SET", ids[0], b"evil"), ("FLUSH",)):
                with pytest.raises(redis.ResponseError, match=r"read-only|denied"):
                    conn.execute_command(*command)
            # ... and without the admin password nobody drops or opens the namespace
            for command in (("NSDEL", "hub"), ("NSSET", "hub", "password", "x"),
                            ("NSSET", "hub", "public", "0")):  # fmt: skip
                with pytest.raises(redis.ResponseError, match="Permission denied"):
                    conn.execute_command(*command)
            assert conn.execute_command("GET", ids[0])
        assert child.stop() == 0
