"""The web pages: rendered by the hub, used through forms (login, upload), and in Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import Hub, make_archive

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]  # fmt: skip


def test_login_upload_and_browse_with_forms(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    alice = new_user()
    archive = make_archive(tmp_path / "site.tar.gz", {"www/index.html": b"<h1>hi</h1>"})
    with hub.http() as http:
        r = http.post("/login", data={"username": alice.name, "password": "wrong-password"})
        assert r.status_code == 401
        assert "wrong user name or password" in r.text
        r = http.get("/upload")
        assert "log in" in r.text
        r = http.post("/login", data={"username": alice.name, "password": "password123"})
        assert r.status_code == 303
        cookie = r.cookies.get("zerohub-token")
        assert cookie
        assert "httponly" in r.headers["set-cookie"].lower()
        assert "samesite=strict" in r.headers["set-cookie"].lower()
        form = http.get("/upload")
        assert 'type="file"' in form.text
        assert alice.name in form.text
        r = http.post("/upload?kind=archive&progress=pagejob01",
                      files={"file": ("site.tar.gz", archive.read_bytes())})  # fmt: skip
        assert r.status_code == 303, r.text
        assert r.headers["location"] == f"/{alice.name}/site.fl.html"
        r = http.post("/upload?kind=flist",
                      files={"file": ("bad.fl", b"not an flist")})  # fmt: skip
        assert r.status_code == 400
        assert 'role="alert"' in r.text
        assert "not an flist" in r.text
    with alice.client() as client:
        client.set_readme("site.fl", "<script>alert(1)</script> read me")
    with hub.http() as http:
        front = http.get("/").text
        assert f"/{alice.name}/site.fl.html" in front
        assert alice.name in http.get("/?q=site").text
        repo = http.get(f"/{alice.name}")
        assert repo.status_code == 200
        assert "site.fl" in repo.text
        page = http.get(f"/{alice.name}/site.fl.html").text
        assert "/www/index.html" in page
        assert f"zos hub pull {alice.name}/site.fl" in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt; read me" in page
        assert "<script>alert(1)" not in page
        assert http.get("/nobody-here").status_code == 404


def _chromium(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):  # scripts/test.sh installs it: the suite may not pass without
            pytest.fail("chromium is not installed")
        pytest.skip("chromium is not installed (scripts/test.sh installs it)")
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={home}", *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_pages_render_in_chromium(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    alice = new_user()
    with alice.client() as client:
        client.upload(make_archive(tmp_path / "shot.tar.gz", {"etc/hostname": b"hub\n"}))
        client.set_readme("shot.fl", "A flist for the screenshot.")
    pages = {"front": "/", "repository": f"/{alice.name}", "flist": f"/{alice.name}/shot.fl.html"}
    for name, path in pages.items():
        dom = _chromium("--dump-dom", hub.url + path, home=tmp_path / f"profile-{name}")
        assert dom.returncode == 0, dom.stderr[-500:]
        assert "zero-hub" in dom.stdout
        assert "shot.fl" in dom.stdout
        shot = tmp_path / f"{name}.png"
        r = _chromium(f"--screenshot={shot}", "--window-size=1200,900", hub.url + path,
                      home=tmp_path / f"profile-{name}-shot")  # fmt: skip
        assert r.returncode == 0, r.stderr[-500:]
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 10_000  # a blank page compresses to a few hundred bytes
    assert (
        "A flist for the screenshot."
        in _chromium(
            "--dump-dom", hub.url + pages["flist"], home=tmp_path / "profile-readme"
        ).stdout
    )
