"""What the live side tells clients: a room's new status, and stored notifications."""

from __future__ import annotations

from collections.abc import Sequence

from phxpy import Endpoint
from server import render
from server.chat.topics import event_topic, user_topic
from server.domain import EventId, Notification, RoomStatus

ROOM_DELETED = "deleted"
"""The ``room_status`` sent when the room's event is deleted (not a stored status)."""


class Announcer:
    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    async def room_status(self, event_id: EventId, status: RoomStatus | str) -> None:
        await self._endpoint.broadcast(
            event_topic(event_id), "room_status", render.room_status(status)
        )

    async def notifications(self, notifications: Sequence[Notification]) -> None:
        """Push each to ``user:<user_id>``: whoever of them is online gets it now; the others
        find it stored (REST ``GET /api/notifications``)."""
        for item in notifications:
            await self._endpoint.broadcast(
                user_topic(item.user_id), "notification", render.notification(item)
            )
