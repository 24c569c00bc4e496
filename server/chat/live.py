"""The phxpy-backed :class:`server.realtime.Realtime`: what the REST layer's commits do to
live sockets and rooms."""

from __future__ import annotations

from collections.abc import Sequence

from phxpy import Endpoint
from server.chat.announce import ROOM_DELETED, Announcer
from server.chat.schedule import RoomScheduler
from server.chat.topics import socket_id
from server.domain import SCHEDULE_FIELDS, Event, EventId, Notification, UserId


class ChatRealtime:
    def __init__(
        self,
        endpoint: Endpoint,
        announcer: Announcer,
        scheduler: RoomScheduler,
    ) -> None:
        self._endpoint = endpoint
        self._announcer = announcer
        self._scheduler = scheduler

    async def user_sessions_revoked(self, user_id: UserId) -> None:
        # Every socket of the user, WebSocket and LongPoll, on every node. Sockets with a
        # still valid token reconnect by themselves and pass connect again.
        await self._endpoint.disconnect(socket_id(user_id))

    async def event_updated(self, event: Event, changed_fields: frozenset[str]) -> None:
        if changed_fields & SCHEDULE_FIELDS:
            # Awaited: once the REST call returns, the room is in the state its new times say.
            await self._scheduler.run_due()
            self._scheduler.wake()

    async def event_created(self, event: Event) -> None:
        # Awaited like a move: a room due already is open when the REST call returns.
        await self._scheduler.run_due()
        self._scheduler.wake()

    async def event_deleted(self, event_id: EventId) -> None:
        # Every channel of the room forwards this and closes itself (EventChannel.handle_out).
        await self._announcer.room_status(event_id, ROOM_DELETED)

    async def notifications_created(self, notifications: Sequence[Notification]) -> None:
        await self._announcer.notifications(notifications)
