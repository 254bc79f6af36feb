"""The web pages: rendered by the hub, used through forms (login, upload), and in Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
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


class _Audit(HTMLParser):
    """What a basic accessibility check looks at: language, headings, labels, table headers."""

    def __init__(self) -> None:
        super().__init__()
        self.lang = ""
        self.h1 = 0
        self.labels: set[str] = set()
        self.inputs: list[str] = []
        self.th_without_scope = 0
        self.links_without_text: list[str] = []
        self._link: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang") or ""
        elif tag == "h1":
            self.h1 += 1
        elif tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))
        elif tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.inputs.append(str(a.get("id") or ""))
        elif tag == "th" and not a.get("scope"):
            self.th_without_scope += 1
        elif tag == "a":
            self._link, self._text = str(a.get("href")), ""

    def handle_data(self, data: str) -> None:
        self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._link is not None:
            if not self._text.strip():
                self.links_without_text.append(self._link)
            self._link = None


def test_pages_pass_a_basic_accessibility_check(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    bad = _Audit()  # the audit itself sees what it looks for
    bad.feed('<html><h1>a</h1><h1>b</h1><input id="x"><th>t</th><a href="/"> </a></html>')
    assert (bad.lang, bad.h1, bad.inputs, bad.labels) == ("", 2, ["x"], set())
    assert (bad.th_without_scope, bad.links_without_text) == (1, ["/"])
    alice = new_user()
    with alice.client() as client:
        client.upload(make_archive(tmp_path / "a11y.tar.gz", {"f": b"x"}))
    with hub.http() as http:
        http.post("/login", data={"username": alice.name, "password": "password123"})
        for path in ("/", "/?q=a11y", f"/{alice.name}", f"/{alice.name}/a11y.fl.html",
                     "/upload", "/login"):  # fmt: skip
            audit = _Audit()
            audit.feed(http.get(path).text)
            assert audit.lang == "en", path
            assert audit.h1 == 1, path
            assert all(i and i in audit.labels for i in audit.inputs), (path, audit.inputs)
            assert audit.th_without_scope == 0, path
            assert audit.links_without_text == [], path


def _browser(home: Path) -> Any:
    """Headless Chromium driven through Debian's chromedriver (selenium, no download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if exe is None or driver is None:
        if os.environ.get("CI"):  # scripts/test.sh installs both: the suite may not pass without
            pytest.fail("chromium or chromedriver is not installed")
        pytest.skip("chromium or chromedriver is not installed (scripts/test.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = exe
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={home}", "--window-size=1200,900"]:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(driver))


def test_the_upload_flow_clicked_in_chromium(hub: Hub, new_user: Any, tmp_path: Path) -> None:
    """Log in through zero-id, choose a file, upload: the bar reaches its end, the flist appears."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    alice = new_user()
    files = {f"data/part{i}": os.urandom(500_000) for i in range(8)}  # ~4 MB: progress events
    archive = make_archive(tmp_path / "clicked.tar.gz", files)
    browser = _browser(tmp_path / "profile")
    wait = WebDriverWait(browser, 120)
    try:
        browser.get(hub.url + "/login")
        browser.find_element(By.ID, "username").send_keys(alice.name)
        browser.find_element(By.ID, "password").send_keys("password123")
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait.until(lambda b: b.find_elements(By.LINK_TEXT, "Log out"))
        browser.get(hub.url + "/upload")
        browser.find_element(By.ID, "file").send_keys(str(archive))
        browser.find_element(By.XPATH, "//button[contains(., '.tar.gz')]").click()
        made = wait.until(lambda b: b.find_elements(By.ID, "made"))[0]
        bar = browser.find_element(By.ID, "bar")
        assert float(bar.get_attribute("max")) >= archive.stat().st_size  # counted real bytes
        assert bar.get_attribute("value") == bar.get_attribute("max")
        assert made.text == f"{alice.name}/clicked.fl"
        browser.save_screenshot(str(tmp_path / "uploaded.png"))
        made.click()
        wait.until(lambda b: b.current_url.endswith("/clicked.fl.html"))
        assert "/data/part7" in browser.page_source
    finally:
        browser.quit()
    with alice.client() as client:
        assert [e["name"] for e in client.repository(alice.name)] == ["clicked.fl"]
