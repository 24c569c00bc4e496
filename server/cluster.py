"""Cluster mode (``REDIS_URL``): this process is one node of several sharing one PostgreSQL
and one Redis, so that every user sees one chat whichever node they reach.

phxpy's :class:`~phxpy.cluster.RedisCluster` carries broadcasts (with disconnects of socket
ids), Presence and LongPoll requests between the nodes; the chat adds its per-room order
relay (``server.chat.relay``) and the shared message limit (``server.chat.message_limit``).
The database stays the one source of truth: whatever Redis loses, a node recovers from it.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

from phxpy.cluster import RedisCluster
from server.config import Settings

CLUSTER_NAME = "ticket-chat"
HEARTBEAT = 1.0
_LONGPOLL_KEY_CONTEXT = b"ticket-chat longpoll sessions"

CLUSTER = web.AppKey("cluster", RedisCluster)
"""The node, in the app when cluster mode is on."""


def create_cluster(settings: Settings) -> RedisCluster:
    assert settings.redis_url is not None
    return RedisCluster(
        settings.redis_url,
        name=CLUSTER_NAME,
        heartbeat=HEARTBEAT,
        down_after=settings.cluster_down_after,
    )


def longpoll_secret(settings: Settings) -> bytes:
    """The LongPoll session signing key, the same on every node: derived from SECRET_KEY
    (never the key itself, so a session token signs nothing else)."""
    return hmac.new(
        settings.secret_key.encode("utf-8"), _LONGPOLL_KEY_CONTEXT, hashlib.sha256
    ).digest()


def cluster_health(app: web.Application) -> str | None:
    """Why this node is not serving as a cluster node should (None: it is, or there is no
    cluster)."""
    cluster = app.get(CLUSTER)
    if cluster is None or cluster.connected:
        return None
    return "no connection to Redis"
