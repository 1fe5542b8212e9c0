"""`nmt serve`'s /docs works without internet: Swagger UI comes from the server itself, not a CDN."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("fastapi", reason="nmt serve needs the serve extra: pip install -e '.[serve]'")

import httpx
import uvicorn

from nmt.serve.app import create_app
from nmt.serve.server import Server

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """The app, without models (the docs need none), on a free localhost port in a thread."""
    server = Server(uvicorn.Config(create_app([]), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield server
    server.should_exit = True
    thread.join()


def test_docs_page_names_only_files_of_this_server(server: Server) -> None:
    page = httpx.get(f"{server.url}docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "http" not in page.text.replace(server.url, "")  # no absolute URL: nothing from elsewhere
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/swagger-ui/swagger-ui-bundle.js", "/swagger-ui/swagger-ui.css", "/static/docs.js"):
        assert asset in page.text
        assert httpx.get(f"{server.url}{asset.lstrip('/')}").status_code == 200, asset
    assert httpx.get(f"{server.url}redoc").status_code == 404  # ReDoc would load from a CDN


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright (no browser download: the system's own)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
    if not CHROMIUM.is_file():
        pytest.skip(f"no browser at {CHROMIUM}: apt-get install chromium (.ci/run installs it where it can)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


def test_docs_render_the_operations_with_every_other_host_blocked(browser: object, server: Server) -> None:
    page = browser.new_page()
    blocked: list[str] = []

    def local_only(route: object) -> None:
        url = route.request.url
        if urlsplit(url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page.route("**/*", local_only)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{server.url}docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_text_contents()
    assert {"/api/translate", "/api/models", "/healthz"} <= {
        path.strip().replace("\u200b", "") for path in paths
    }
    assert page.locator(".opblock-post").count() == 1
    assert blocked == [] and errors == []
