"""Putting the chat into the app: called once by ``server.app.create_app``.

In cluster mode (``REDIS_URL``) the endpoint's pub/sub is the node's
:class:`~phxpy.cluster.RedisCluster`, Presence is replicated, LongPoll requests reach the
node that holds their session, stored messages go through the rooms' relay, the message
limit is shared through Redis, and the rooms' schedule takes turns with the other nodes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, replace

from aiohttp import web

import phxpy
from server.chat.announce import Announcer
from server.chat.context import CHAT_CONTEXT, ChatContext
from server.chat.joins import JoinQueries
from server.chat.limits import ChatLimits
from server.chat.live import ChatRealtime
from server.chat.message_limit import SharedMessageLimit
from server.chat.moderation_sync import ModerationSync
from server.chat.relay import MessageRelay
from server.chat.schedule import RoomScheduler
from server.chat.socket import UserSocket
from server.chat.writer import MessageWriter
from server.clock import Clock
from server.cluster import CLUSTER, create_cluster, longpoll_secret
from server.config import Settings
from server.keys import DB
from server.limits import MAX_FRAME_BYTES, MAX_FRAME_CONTAINERS
from server.origins import socket_origin_check

SOCKET_PATH = "/socket"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Chat:
    context: ChatContext
    scheduler: RoomScheduler
    realtime: ChatRealtime
    endpoint: phxpy.Endpoint


CHAT = web.AppKey("chat", Chat)


def socket_options(settings: Settings) -> phxpy.SocketOptions:
    """The chat's mount of phxpy: frames no bigger than the largest post needs, LongPoll
    bodies within the REST API's body limit, and each socket's inbound budget."""
    limits = settings.connection_limits
    return phxpy.SocketOptions(
        longpoll=True,
        check_origin=socket_origin_check(settings),
        max_frame_size=MAX_FRAME_BYTES,
        max_frame_containers=MAX_FRAME_CONTAINERS,
        inbound_frames_per_second=limits.socket_frames_per_second,
        inbound_bytes_per_second=limits.socket_bytes_per_second,
        longpoll_max_body=max(settings.max_body_bytes, MAX_FRAME_BYTES),
    )


def install_chat(
    app: web.Application,
    settings: Settings,
    clock: Clock,
    *,
    endpoint: phxpy.Endpoint | None = None,
    limits: ChatLimits | None = None,
    on_notifications: Callable[[], None] | None = None,
) -> Chat:
    """Mount the socket (WebSocket and LongPoll) and plan the rooms' schedule. The app's
    cleanup context must already hold the database one (it runs first).
    ``on_notifications`` is called whenever notifications were stored and pushed (the
    webhook's delivery wakes up)."""
    cluster = create_cluster(settings) if settings.cluster else None
    options = socket_options(settings)
    if cluster is not None:
        endpoint = phxpy.Endpoint(
            pubsub=cluster.pubsub, drain_window=settings.shutdown_drain_seconds
        )
        cluster.attach(endpoint)
        app[CLUSTER] = cluster
        options = replace(
            options, longpoll_relay=cluster.longpoll_relay, secret_key=longpoll_secret(settings)
        )
    elif endpoint is None:
        endpoint = phxpy.Endpoint(drain_window=settings.shutdown_drain_seconds)
    context = ChatContext(
        settings=settings,
        clock=clock,
        endpoint=endpoint,
        limits=limits or ChatLimits.from_settings(settings),
    )
    shared_limit: SharedMessageLimit | None = None
    if cluster is not None:
        assert settings.redis_url is not None
        relay = context.relay = MessageRelay(endpoint, cluster.pubsub.deliver_local)
        context.moderation_sync = ModerationSync(
            endpoint, context.moderation, relay, cluster.pubsub.deliver_local, clock
        )
        context.message_limit = shared_limit = SharedMessageLimit(
            settings.redis_url, context.message_limiter
        )
    announcer = Announcer(endpoint, on_notifications=on_notifications, relay=context.relay)
    scheduler = RoomScheduler(
        clock, announcer, webhook=settings.webhook is not None, cluster=cluster is not None
    )
    realtime = ChatRealtime(context, announcer, scheduler)
    app[CHAT_CONTEXT] = context
    phxpy.mount(app, SOCKET_PATH, UserSocket, endpoint=endpoint, options=options)
    chat = Chat(context=context, scheduler=scheduler, realtime=realtime, endpoint=endpoint)
    app[CHAT] = chat

    async def run_chat(app: web.Application) -> AsyncIterator[None]:
        context.database = app[DB]
        if cluster is not None:
            await cluster.start()
        if context.relay is not None:
            context.relay.start(context.database)
        if context.moderation_sync is not None:
            context.moderation_sync.start(context.database)
        writer = context.message_writer = MessageWriter(context.database, clock)
        writer.start()
        joins = context.join_queries = JoinQueries(context.database, clock)
        await scheduler.start(context.database)
        try:
            yield
        finally:
            await scheduler.stop()
            await context.presence.close()
            await joins.stop()
            # Every message already accepted is stored and answered before the database
            # closes.
            await writer.stop()
            if context.moderation_sync is not None:
                await context.moderation_sync.stop()
            if context.relay is not None:
                await context.relay.stop()
            if shared_limit is not None:
                await shared_limit.close()
            if cluster is not None:
                # After the last broadcasts: a goodbye, so this node's users leave at once.
                await cluster.stop()
                relay = asdict(context.relay.stats) if context.relay is not None else {}
                log.info("cluster node stopped: %s, relay %s", cluster.snapshot(), relay)

    app.cleanup_ctx.append(run_chat)
    return chat
