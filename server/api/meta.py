"""Routes about the service itself: liveness and the API description."""

from __future__ import annotations

import logging

from aiohttp import web

from server.keys import DB, OPENAPI

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    """200 when the service and its database answer; 503 when the database does not. The
    check is a read: it takes no lock and is never cancelled halfway."""
    health = await request.app[DB].health()
    if health.ok:
        return web.json_response({"status": "ok"})
    log.warning("health check: database unhealthy: %s", health.detail)
    return web.json_response({"status": "unavailable"}, status=503)


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])
