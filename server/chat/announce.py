"""What the live side tells clients: a room's new status, the organisers' actions, and stored
notifications."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from phxpy import Endpoint, RawJSON
from server import render
from server.chat.topics import event_topic, user_topic
from server.domain import (
    EventId,
    MemberMuted,
    MemberRemoved,
    MessageHidden,
    ModerationChange,
    Notification,
    RoomStatus,
    SlowModeSet,
)

if TYPE_CHECKING:
    from server.chat.relay import MessageRelay

ROOM_STATUS = "room_status"
ROOM_DELETED = "deleted"
"""The ``room_status`` sent when the room's event is deleted (not a stored status)."""
MEMBER_MODERATED = "member_moderated"
"""An organiser acted on one member: only that member's channels pass it on (intercepted)."""
NEW_MESSAGE = "new_message"
MESSAGE_HIDDEN = "message_hidden"
SLOW_MODE = "slow_mode"


def moderation_notice(change: ModerationChange) -> tuple[str, dict[str, Any]] | None:
    """What the room's channels are sent about an organiser's action: ``(event, payload)``;
    None when nobody is told (a reinstated member is not in the room)."""
    if isinstance(change, MessageHidden):
        return MESSAGE_HIDDEN, {"id": change.message_id, "seq": change.seq}
    if isinstance(change, SlowModeSet):
        return SLOW_MODE, {"seconds": change.seconds}
    if isinstance(change, MemberMuted):
        if change.until is None:
            return MEMBER_MODERATED, {"user_id": change.user_id, "action": "unmuted"}
        return MEMBER_MODERATED, {
            "user_id": change.user_id,
            "action": "muted",
            "until": render.end_timestamp(change.until),
        }
    if isinstance(change, MemberRemoved):
        return MEMBER_MODERATED, {
            "user_id": change.user_id,
            "action": "removed",
            "reason": change.reason,
        }
    return None  # MemberReinstated: their next join is admitted again


class Announcer:
    def __init__(
        self,
        endpoint: Endpoint,
        *,
        on_notifications: Callable[[], None] | None = None,
        relay: MessageRelay | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._on_notifications = on_notifications
        self._relay = relay
        """Cluster mode: stored messages go through the rooms' relay (in seq order)."""

    async def room_status(self, event_id: EventId, status: RoomStatus | str) -> None:
        await self._endpoint.broadcast(
            event_topic(event_id), ROOM_STATUS, render.room_status(status)
        )

    async def new_message(self, event_id: EventId, seq: int, encoded: bytes) -> None:
        """A stored message (already encoded), to everyone in the room."""
        topic = event_topic(event_id)
        if self._relay is not None:
            await self._relay.publish(topic, seq, encoded)
        else:
            await self._endpoint.broadcast(topic, NEW_MESSAGE, RawJSON(encoded))

    async def moderated(self, event_id: EventId, change: ModerationChange) -> None:
        """Tell the room (or, ``member_moderated``, the one member concerned: only their
        channels pass it on) what an organiser did."""
        notice = moderation_notice(change)
        if notice is not None:
            await self._endpoint.broadcast(event_topic(event_id), *notice)

    async def notifications(self, notifications: Sequence[Notification]) -> None:
        """Push each to ``user:<user_id>``: whoever of them is online gets it now; the others
        find it stored (REST ``GET /api/notifications``)."""
        for item in notifications:
            await self._endpoint.broadcast(
                user_topic(item.user_id), "notification", render.notification(item)
            )
        if notifications and self._on_notifications is not None:
            self._on_notifications()
