"""The web pages: the chat at ``/`` and the REST reference at ``/api/docs``.

Both are static files from ``web/app/`` in the repository, plus the official phoenix.js client
served unchanged from ``web/node_modules/phoenix`` (``npm ci`` in ``web/``, done by ``make run``
and ``make setup``). All the logic runs in the browser; this module only serves files, with:

* a Content-Security-Policy that allows scripts, styles and connections from this origin only,
  so no inline script or event handler ever runs (a message that smuggled markup in could not
  execute even if it were rendered as HTML, which the page never does);
* ``Cache-Control: no-cache``: the browser keeps the files but revalidates them on each load
  (aiohttp answers with the ETag, usually a 304), so an upgrade of the page is seen at once;
* an allow-list of names and types, so nothing outside those two folders can be fetched.

These routes are pages, not REST API: they are not in the route table, and so not in the
OpenAPI document (:data:`PAGE_PATHS` names them for whoever compares the two).

Without ``web/node_modules`` the pages are still served (the chat page then says that the
client library is missing) and the service logs one line saying how to install it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
APP_DIR = WEB_DIR / "app"
PHOENIX_DIR = WEB_DIR / "node_modules" / "phoenix" / "priv" / "static"
PHOENIX_FILES = frozenset({"phoenix.mjs", "phoenix.mjs.map"})
INSTALL_HINT = "run `make setup` (or `npm ci` in web/)"

PAGE_PATHS = frozenset({"/", "/api/docs", "/assets/{name}"})
"""The routes this module adds, none of which belongs to the REST API."""

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".map": "application/json",
}
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9]+)+$")

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        # 'self' covers ws:// and wss:// to this host, for the socket.
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class PageFiles:
    """Where the pages' files are: the app's own, and phoenix.js's ``priv/static``."""

    app_dir: Path = APP_DIR
    phoenix_dir: Path = PHOENIX_DIR

    def find(self, name: str) -> Path | None:
        """The file an ``/assets/<name>`` request means, or None."""
        if not _ASSET_NAME.match(name) or Path(name).suffix not in _CONTENT_TYPES:
            return None
        folder = self.phoenix_dir if name in PHOENIX_FILES else self.app_dir
        path = folder / name
        return path if path.is_file() else None

    @property
    def phoenix_installed(self) -> bool:
        return (self.phoenix_dir / "phoenix.mjs").is_file()


PAGE_FILES = web.AppKey("page_files", PageFiles)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install_pages(app: web.Application, files: PageFiles | None = None) -> None:
    files = files or PageFiles()
    app[PAGE_FILES] = files
    app.router.add_get("/", _page("index.html"))
    app.router.add_get("/api/docs", _page("docs.html"))
    app.router.add_get("/assets/{name}", _asset)
    if not files.phoenix_installed:
        log.warning(
            "web page: the phoenix.js client is not installed (no %s), so the chat page at / "
            "cannot connect; to install it, %s",
            files.phoenix_dir / "phoenix.mjs",
            INSTALL_HINT,
        )


def _page(name: str) -> _Handler:
    async def page(request: web.Request) -> web.StreamResponse:
        return _file_response(request.app[PAGE_FILES].find(name))

    page.__name__ = f"page_{name.replace('.', '_')}"
    return page


async def _asset(request: web.Request) -> web.StreamResponse:
    return _file_response(request.app[PAGE_FILES].find(request.match_info["name"]))


def _file_response(path: Path | None) -> web.StreamResponse:
    if path is None:
        raise web.HTTPNotFound()
    headers = {**SECURITY_HEADERS, "Content-Type": _CONTENT_TYPES[path.suffix]}
    return web.FileResponse(path, headers=headers)
