"""Typed keys for what ``create_app`` puts into the application and each request."""

from __future__ import annotations

from aiohttp import web

from server.auth.callers import Caller
from server.auth.passwords import PasswordHasher
from server.auth.throttle import AuthThrottle
from server.clock import Clock
from server.config import Settings
from server.db.database import Database
from server.realtime import Realtime
from server.webhooks.delivery import WebhookDelivery

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
CLOCK = web.AppKey("clock", Clock)
REALTIME = web.AppKey("realtime", Realtime)
PASSWORDS = web.AppKey("passwords", PasswordHasher)
THROTTLE = web.AppKey("throttle", AuthThrottle)
WEBHOOKS = web.AppKey("webhooks", WebhookDelivery)
"""Present only when NOTIFICATION_WEBHOOK_URL is set."""
# The OpenAPI document, built once from the route table.
OPENAPI = web.AppKey("openapi", dict)

# Who is calling, set by the route guard before the handler runs (absent on public routes).
CALLER = web.RequestKey[Caller]("caller")
