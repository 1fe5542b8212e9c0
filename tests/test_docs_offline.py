"""`nmt serve`'s /docs works without internet: Swagger UI comes from the server itself, not a CDN."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

pytest.importorskip("fastapi", reason="nmt serve needs the serve extra: pip install -e '.[serve]'")

import httpx
from conftest import served

from nmt.serve.app import create_app
from nmt.serve.server import Server


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """The app, without models (the docs need none), on a free localhost port in a thread."""
    with served(create_app([])) as server:
        yield server


def test_docs_page_names_only_files_of_this_server(server: Server) -> None:
    page = httpx.get(f"{server.url}docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "http" not in page.text.replace(server.url, "")  # no absolute URL: nothing from elsewhere
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/swagger-ui/swagger-ui-bundle.js", "/swagger-ui/swagger-ui.css", "/static/docs.js"):
        assert asset in page.text
        assert httpx.get(f"{server.url}{asset.lstrip('/')}").status_code == 200, asset
    assert httpx.get(f"{server.url}redoc").status_code == 404  # ReDoc would load from a CDN


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
