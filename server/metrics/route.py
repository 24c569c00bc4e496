"""``GET /metrics``: the service's metrics in Prometheus's text format, and who may read them.

With ``METRICS_TOKEN`` set, a scraper sends it as ``Authorization: Bearer <METRICS_TOKEN>``,
from anywhere (the token is compared in constant time; a wrong one gets 401). Without it,
only requests from this machine (a loopback address) that carry no proxy's forwarding
header may read them (403 otherwise): a reverse proxy on the same machine passes requests
on from a loopback address, but says whom for. The metrics hold counts and timings, never
a user, a topic or a token; still, they tell how busy the service is, so they are not
public.

It is not part of the REST API (not in the OpenAPI document): it answers Prometheus's
format, not JSON.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.chat.setup import Chat
from server.client_ip import client_address
from server.config import Settings
from server.keys import SETTINGS
from server.metrics.observe import observe_chat, observe_endpoint, observe_rest
from server.metrics.registry import ServiceMetrics

METRICS = web.AppKey("metrics", ServiceMetrics)
METRICS_PATH = "/metrics"
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _error(status: int, detail: str) -> web.Response:
    return web.json_response({"errors": {"detail": detail}}, status=status)


def may_read(request: web.Request, token: str | None) -> bool:
    if token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )
    peer = client_address(request.remote, (), ())
    forwarded = any(header in request.headers for header in FORWARDING_HEADERS)
    return peer is not None and peer.is_loopback and not forwarded


async def metrics_page(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].metrics_token
    if not may_read(request, token):
        if token is None:
            return _error(403, "Forbidden")
        response = _error(401, "Unauthorized")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def install_metrics(app: web.Application, settings: Settings, chat: Chat) -> ServiceMetrics:
    """Observe the chat, the REST answers and (through ``app[METRICS]``) the database;
    serve ``/metrics``."""
    metrics = app[METRICS] = ServiceMetrics()
    observe_endpoint(chat.endpoint, metrics)
    observe_chat(chat, metrics)
    observe_rest(app, metrics)
    app.router.add_get(METRICS_PATH, metrics_page)
    return metrics
