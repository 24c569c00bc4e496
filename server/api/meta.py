"""Routes about the service itself: liveness and the API description."""

from __future__ import annotations

from aiohttp import web

from server.db.engine import database_is_reachable
from server.keys import ENGINE, OPENAPI


async def healthz(request: web.Request) -> web.Response:
    """200 when the service and its database answer; 503 when the database does not."""
    if await database_is_reachable(request.app[ENGINE]):
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "unavailable"}, status=503)


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])
