"""What the live side tells clients: a room's new status, the organisers' actions, and stored
notifications."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from phxpy import Endpoint, RawJSON
from server import render
from server.chat.topics import event_topic, user_topic
from server.domain import (
    EventId,
    MemberMuted,
    MemberReinstated,
    MemberRemoved,
    MessageHidden,
    ModerationChange,
    Notification,
    RoomStatus,
    SlowModeSet,
)

ROOM_STATUS = "room_status"
ROOM_DELETED = "deleted"
"""The ``room_status`` sent when the room's event is deleted (not a stored status)."""
MEMBER_MODERATED = "member_moderated"
"""An organiser acted on one member: only that member's channels pass it on (intercepted)."""
NEW_MESSAGE = "new_message"
MESSAGE_HIDDEN = "message_hidden"
SLOW_MODE = "slow_mode"


class Announcer:
    def __init__(
        self, endpoint: Endpoint, *, on_notifications: Callable[[], None] | None = None
    ) -> None:
        self._endpoint = endpoint
        self._on_notifications = on_notifications

    async def room_status(self, event_id: EventId, status: RoomStatus | str) -> None:
        await self._endpoint.broadcast(
            event_topic(event_id), ROOM_STATUS, render.room_status(status)
        )

    async def new_message(self, event_id: EventId, encoded: bytes) -> None:
        """A stored message (already encoded), to everyone in the room."""
        await self._endpoint.broadcast(event_topic(event_id), NEW_MESSAGE, RawJSON(encoded))

    async def moderated(self, event_id: EventId, change: ModerationChange) -> None:
        """Tell the room (or the one member concerned) what an organiser did."""
        topic = event_topic(event_id)
        member: dict[str, Any] | None = None
        if isinstance(change, MessageHidden):
            await self._endpoint.broadcast(
                topic, MESSAGE_HIDDEN, {"id": change.message_id, "seq": change.seq}
            )
        elif isinstance(change, SlowModeSet):
            await self._endpoint.broadcast(topic, SLOW_MODE, {"seconds": change.seconds})
        elif isinstance(change, MemberMuted):
            action = "unmuted" if change.until is None else "muted"
            member = {"user_id": change.user_id, "action": action}
            if change.until is not None:
                member["until"] = render.timestamp(change.until)
        elif isinstance(change, MemberRemoved):
            member = {"user_id": change.user_id, "action": "removed", "reason": change.reason}
        elif isinstance(change, MemberReinstated):
            pass  # not in the room: their next join is admitted again
        if member is not None:
            await self._endpoint.broadcast(topic, MEMBER_MODERATED, member)

    async def notifications(self, notifications: Sequence[Notification]) -> None:
        """Push each to ``user:<user_id>``: whoever of them is online gets it now; the others
        find it stored (REST ``GET /api/notifications``)."""
        for item in notifications:
            await self._endpoint.broadcast(
                user_topic(item.user_id), "notification", render.notification(item)
            )
        if notifications and self._on_notifications is not None:
            self._on_notifications()
