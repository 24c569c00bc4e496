"""Putting the chat into the app: called once by ``server.app.create_app``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web

import phxpy
from server.chat.announce import Announcer
from server.chat.context import CHAT_CONTEXT, ChatContext
from server.chat.limits import ChatLimits
from server.chat.live import ChatRealtime
from server.chat.schedule import RoomScheduler
from server.chat.socket import UserSocket
from server.chat.writer import MessageWriter
from server.clock import Clock
from server.config import Settings
from server.keys import DB
from server.limits import MAX_FRAME_BYTES, MAX_FRAME_CONTAINERS
from server.origins import socket_origin_check

SOCKET_PATH = "/socket"


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
    if endpoint is None:
        endpoint = phxpy.Endpoint(drain_window=settings.shutdown_drain_seconds)
    context = ChatContext(
        settings=settings,
        clock=clock,
        endpoint=endpoint,
        limits=limits or ChatLimits.from_settings(settings),
    )
    announcer = Announcer(endpoint, on_notifications=on_notifications)
    scheduler = RoomScheduler(clock, announcer, webhook=settings.webhook is not None)
    realtime = ChatRealtime(context, announcer, scheduler)
    app[CHAT_CONTEXT] = context
    phxpy.mount(app, SOCKET_PATH, UserSocket, endpoint=endpoint, options=socket_options(settings))
    chat = Chat(context=context, scheduler=scheduler, realtime=realtime, endpoint=endpoint)
    app[CHAT] = chat

    async def run_chat(app: web.Application) -> AsyncIterator[None]:
        context.database = app[DB]
        writer = context.message_writer = MessageWriter(context.database, clock)
        writer.start()
        await scheduler.start(context.database)
        try:
            yield
        finally:
            await scheduler.stop()
            await context.presence.close()
            # Every message already accepted is stored and answered before the database
            # closes.
            await writer.stop()

    app.cleanup_ctx.append(run_chat)
    return chat
