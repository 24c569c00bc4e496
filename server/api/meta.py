"""Routes about the service itself: liveness and the API description."""

from __future__ import annotations

import logging

from aiohttp import web

from server.cluster import cluster_health
from server.keys import DB, OPENAPI

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    """200 when the service and its database answer (and, in cluster mode, its link to
    Redis is up); 503 when one does not. The database check is a read: it takes no lock and
    is never cancelled halfway."""
    health = await request.app[DB].health()
    if not health.ok:
        log.warning("health check: database unhealthy: %s", health.detail)
        return web.json_response({"status": "unavailable"}, status=503)
    problem = cluster_health(request.app)
    if problem is not None:
        log.warning("health check: %s", problem)
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ok"})


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])
