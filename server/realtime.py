"""What the REST layer tells (and asks) the live side of the service (sockets, channels,
presence, the message writer).

The REST handlers call a :class:`Realtime` after their transaction has committed, so live
effects never announce a change that was rolled back. The live chat implements it with phxpy
(:class:`server.chat.live.ChatRealtime`); in tests of the REST layer alone,
:class:`NoRealtime` does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from server.domain import (
    DomainError,
    Event,
    EventId,
    MessageDraft,
    ModerationChange,
    Notification,
    RoomModeration,
    StoredMessage,
    UserId,
)

NO_LIVE_CHAT = "the live chat is not running"

PostOutcome = StoredMessage | DomainError | str
"""A stored message, why it was refused (NotFound, Conflict), or why it could not be stored."""


class Realtime(Protocol):
    async def user_sessions_revoked(self, user_id: UserId) -> None:
        """The user signed out, changed their password or was deleted: close their sockets
        (socket id ``users_socket:<user_id>``)."""
        ...

    async def event_created(self, event: Event) -> None:
        """A new event: its room may be due to open (or close) already, or soon."""
        ...

    async def event_updated(self, event: Event, changed_fields: frozenset[str]) -> None:
        """An event changed; re-plan its room's schedule if its times moved."""
        ...

    async def event_deleted(self, event_id: EventId) -> None:
        """An event and its room are gone: tell the room and close its channels."""
        ...

    async def notifications_created(self, notifications: Sequence[Notification]) -> None:
        """Notifications were stored: push each to its user if they are online."""
        ...

    async def post_message(self, event_id: EventId, draft: MessageDraft) -> PostOutcome:
        """Store a message the way the chat stores its members' (an organiser's announcement):
        it gets the room's next seq, and is broadcast as ``new_message`` once stored."""
        ...

    async def room_moderated(self, state: RoomModeration, change: ModerationChange | None) -> None:
        """An organiser's action committed: enforce the room's new state from now on, and
        tell the room (or the member concerned) what changed."""
        ...

    def online_count(self, event_id: EventId) -> int:
        """How many members are in the event's room now."""
        ...

    def online_among(self, event_id: EventId, user_ids: Iterable[UserId]) -> set[UserId]:
        """Which of these users are in the event's room now."""
        ...


class NoRealtime:
    """The default: no live side."""

    async def user_sessions_revoked(self, user_id: UserId) -> None:
        return None

    async def event_created(self, event: Event) -> None:
        return None

    async def event_updated(self, event: Event, changed_fields: frozenset[str]) -> None:
        return None

    async def event_deleted(self, event_id: EventId) -> None:
        return None

    async def notifications_created(self, notifications: Sequence[Notification]) -> None:
        return None

    async def post_message(self, event_id: EventId, draft: MessageDraft) -> PostOutcome:
        return NO_LIVE_CHAT

    async def room_moderated(self, state: RoomModeration, change: ModerationChange | None) -> None:
        return None

    def online_count(self, event_id: EventId) -> int:
        return 0

    def online_among(self, event_id: EventId, user_ids: Iterable[UserId]) -> set[UserId]:
        return set()
