"""The web pages: what the service sends for ``/``, ``/api/docs`` and ``/assets/*``.

(What the pages do in a browser is tested in tests/browser, in Chromium.)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.api.errors import error_middleware
from server.pages import APP_DIR, PHOENIX_DIR, PageFiles, install_pages
from tests.server.conftest import AiohttpClient


def pages_app(files: PageFiles | None = None) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    install_pages(app, files)
    return app


@pytest.fixture
def fake_phoenix(tmp_path: Path) -> Path:
    """A stand-in for phoenix.js's priv/static, so these tests need no npm install."""
    folder = tmp_path / "phoenix"
    folder.mkdir()
    (folder / "phoenix.mjs").write_text("export class Socket {}\n")
    (folder / "phoenix.mjs.map").write_text("{}\n")
    return folder


@pytest.fixture
async def pages(aiohttp_client: AiohttpClient, fake_phoenix: Path) -> TestClient[Any, Any]:
    return await aiohttp_client(pages_app(PageFiles(APP_DIR, fake_phoenix)))


@pytest.mark.parametrize(
    ("path", "marker"),
    [("/", 'src="/assets/main.mjs"'), ("/api/docs", 'src="/assets/docs.mjs"')],
)
async def test_pages_are_html_with_a_policy_that_forbids_inline_script(
    pages: TestClient[Any, Any], path: str, marker: str
) -> None:
    async with pages.get(path) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-cache"
        body = await response.text()
    assert marker in body
    assert "<script>" not in body and " on" + "load=" not in body


async def test_assets_are_served_with_their_types_and_revalidated(
    pages: TestClient[Any, Any],
) -> None:
    for name, content_type in [
        ("main.mjs", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
        ("phoenix.mjs", "text/javascript; charset=utf-8"),
        ("phoenix.mjs.map", "application/json"),
    ]:
        async with pages.get(f"/assets/{name}") as response:
            assert response.status == 200, name
            assert response.headers["Content-Type"] == content_type, name
            assert response.headers["Cache-Control"] == "no-cache"
            etag = response.headers["ETag"]
        # The browser revalidates (no-cache) and an unchanged file costs a 304.
        async with pages.get(f"/assets/{name}", headers={"If-None-Match": etag}) as again:
            assert again.status == 304, name


@pytest.mark.parametrize(
    "path",
    [
        "/assets/nothing.mjs",
        "/assets/..%2Fpages.py",
        "/assets/%2E%2E%2F%2E%2E%2Fserver%2Fapp.py",
        "/assets/.hidden.mjs",
        "/assets/index",
        "/assets/README.md",
        "/assets/phoenix.js",
    ],
)
async def test_only_the_pages_own_files_can_be_fetched(
    pages: TestClient[Any, Any], path: str
) -> None:
    async with pages.get(path) as response:
        assert response.status == 404
        assert await response.json() == {"errors": {"detail": "Not Found"}}


async def test_without_phoenix_the_page_is_served_and_the_log_says_how_to_install_it(
    aiohttp_client: AiohttpClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="server.pages"):
        app = pages_app(PageFiles(APP_DIR, tmp_path / "no-node-modules"))
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1
    assert "phoenix.js client is not installed" in lines[0] and "make setup" in lines[0]
    client = await aiohttp_client(app)
    async with client.get("/") as response:
        assert response.status == 200
    async with client.get("/assets/phoenix.mjs") as response:
        assert response.status == 404


def test_the_real_phoenix_folder_is_where_npm_puts_it() -> None:
    if not (PHOENIX_DIR / "phoenix.mjs").is_file():
        pytest.skip("web/node_modules is not installed (make setup)")
    assert PageFiles().phoenix_installed


async def test_the_service_serves_the_page(client: TestClient[Any, Any]) -> None:
    async with client.get("/") as response:
        assert response.status == 200
        assert "<title>Ticket chat</title>" in await response.text()
