"""Fixtures for the site tests: the site built with ``--strict``, served on 127.0.0.1, and
headless Chromium (Debian's ``chromium`` and ``chromium-driver``; `make browser` installs
them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "test-artifacts"


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """Build the site with ``mkdocs build --strict`` into a temporary folder.

    The figures must have been drawn (`make site` or ``atlas figures --missing``) and KaTeX
    fetched (`make site`); the strict build fails with a message naming what is missing.
    """
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


class RecordingHandler(SimpleHTTPRequestHandler):
    """Serves the site and records every request's path and status code."""

    def log_request(self, code="-", size="-"):
        self.server.requests.append((self.path, int(code) if str(code).isdigit() else code))

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def server(built_site):
    """The built site on ``http://127.0.0.1:<port>/``; ``server.requests`` lists
    ``(path, status)`` of every request served."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(RecordingHandler,
                                                          directory=str(built_site)))
    httpd.requests = []
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


@pytest.fixture(scope="session")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium fetch a driver
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(driver_path).exists() and Path(binary).exists(), (
        "the site tests need Debian's chromium and chromium-driver: run `make browser`")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                 "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def pages(site):
    """URL paths of every page of the built site (the 404 page excluded)."""
    found = []
    for index in sorted(site.rglob("index.html")):
        relative = index.parent.relative_to(site).as_posix()
        found.append("" if relative == "." else relative + "/")
    return found
