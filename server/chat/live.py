"""The phxpy-backed :class:`server.realtime.Realtime`: what the REST layer's commits do to
live sockets and rooms, and what it asks of them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from phxpy import Endpoint
from phxpy.serializer import json_dumps
from server import render
from server.chat.announce import ROOM_DELETED, Announcer
from server.chat.context import ChatContext
from server.chat.presence import online_among, room_online_count
from server.chat.schedule import RoomScheduler
from server.chat.topics import event_topic, socket_id
from server.chat.writer import Outcome
from server.domain import (
    SCHEDULE_FIELDS,
    Event,
    EventId,
    MessageDraft,
    ModerationChange,
    Notification,
    RoomModeration,
    StoredMessage,
    UserId,
)


class ChatRealtime:
    def __init__(
        self,
        context: ChatContext,
        announcer: Announcer,
        scheduler: RoomScheduler,
    ) -> None:
        self._context = context
        self._endpoint: Endpoint = context.endpoint
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

    async def post_message(self, event_id: EventId, draft: MessageDraft) -> Outcome:
        """Through the node's writer, like a member's post: stored in seq order with what
        members post meanwhile, broadcast after the commit."""
        decided: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

        async def deliver(outcome: Outcome) -> None:
            if isinstance(outcome, StoredMessage) and outcome.created:
                encoded = json_dumps(render.message(outcome.message))
                await self._announcer.new_message(event_id, outcome.message.seq, encoded)
            if not decided.done():  # (the caller may have gone)
                decided.set_result(outcome)

        await self._context.writer.submit(draft, deliver)
        return await decided

    async def room_moderated(self, state: RoomModeration, change: ModerationChange | None) -> None:
        # Enforced from now on (before anyone is told), then announced.
        self._context.moderation.offer(state)
        sync = self._context.moderation_sync
        if sync is not None:
            # Several nodes: each enforces the new state, then tells its own members (this
            # one did as it took the state, see server.chat.moderation_sync).
            await sync.published(state)
        elif change is not None:
            await self._announcer.moderated(state.event_id, change)

    def online_count(self, event_id: EventId) -> int:
        return room_online_count(self._endpoint, event_topic(event_id))

    def online_among(self, event_id: EventId, user_ids: Iterable[UserId]) -> set[UserId]:
        return online_among(self._endpoint, event_topic(event_id), user_ids)
