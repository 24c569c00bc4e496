"""``create_app``: the only place where the service is put together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.web_middlewares import normalize_path_middleware

import phxpy
from server.api.cors import cors_middleware
from server.api.errors import error_middleware
from server.api.openapi import build_document
from server.api.routes import register_routes
from server.auth.hashing_pool import HashingPool
from server.auth.passwords import PasswordHasher
from server.auth.throttle import AuthThrottle
from server.chat.setup import install_chat
from server.clock import Clock, SystemClock
from server.config import Settings
from server.db import outbox
from server.db.open import describe_database, open_database
from server.db.schema import apply_schema
from server.keys import CLOCK, DB, OPENAPI, PASSWORDS, REALTIME, SETTINGS, THROTTLE, WEBHOOKS
from server.metrics.database import TimedDatabase
from server.metrics.route import METRICS, install_metrics
from server.pages import install_pages
from server.realtime import Realtime
from server.webhooks.delivery import WebhookDelivery

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    realtime: Realtime | None = None,
    endpoint: phxpy.Endpoint | None = None,
) -> web.Application:
    """The service. Tests pass their own ``clock`` (the service's wall clock), ``realtime``
    (to observe the REST layer alone) or ``endpoint`` (phxpy's, e.g. on a fake clock)."""
    cors = cors_middleware(settings.cors_origins)
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            # Outermost, so that errors and redirects carry the CORS headers too.
            *([cors] if cors is not None else []),
            # "/api/users/create/" and "//api/…" reach their routes (by a redirect).
            normalize_path_middleware(append_slash=False, remove_slash=True, merge_slashes=True),
            error_middleware,
        ],
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[PASSWORDS] = PasswordHasher(
        settings.bcrypt_rounds,
        HashingPool(settings.password_hash_workers, settings.password_hash_queue),
    )
    app[THROTTLE] = AuthThrottle(settings.auth_limits, app[CLOCK])
    app[OPENAPI] = build_document()
    app.cleanup_ctx.append(_database)
    webhooks = None
    if settings.webhook is not None:
        webhooks = app[WEBHOOKS] = WebhookDelivery(settings.webhook, app[CLOCK])
    # The live chat: phxpy at /socket (WebSocket and LongPoll) and the rooms' schedule.
    # Installed after the database, whose cleanup context it relies on; tests of the REST
    # layer alone pass their own realtime.
    chat = install_chat(
        app,
        settings,
        app[CLOCK],
        endpoint=endpoint,
        on_notifications=webhooks.wake if webhooks else None,
    )
    app[REALTIME] = realtime or chat.realtime
    app.cleanup_ctx.append(_webhooks)
    # /metrics, and the observers that feed it (the database is timed once it is open).
    install_metrics(app, settings, chat)
    app.on_startup.append(_warm_up_passwords)
    app.on_cleanup.append(_stop_passwords)
    register_routes(app)
    # The chat page at / and /api/docs: static files, outside the REST route table.
    install_pages(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    log.info("database: %s", describe_database(settings.database_url))
    db = await open_database(settings.database_url, pool_size=settings.database_pool_size)
    try:
        await apply_schema(db)
        app[DB] = TimedDatabase(db, app[METRICS].database)
        yield
    finally:
        await db.close()


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    """Deliver the outbox while the app runs; without a webhook, say if rows wait in it."""
    delivery = app.get(WEBHOOKS)
    if delivery is None:
        async with app[DB].read() as conn:
            waiting = await outbox.waiting(conn)
        if waiting:
            log.warning(
                "%d notifications wait in the webhook outbox, and NOTIFICATION_WEBHOOK_URL "
                "is not set: they are kept until it is",
                waiting,
            )
        yield
        return
    log.info("notification webhook: %s", delivery.settings.url)
    await delivery.start(app[DB])
    try:
        yield
    finally:
        await delivery.stop()


async def _warm_up_passwords(app: web.Application) -> None:
    await app[PASSWORDS].warm_up()


async def _stop_passwords(app: web.Application) -> None:
    app[PASSWORDS].close()
