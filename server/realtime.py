"""What the REST layer tells the live side of the service (sockets, channels, presence).

The REST handlers call a :class:`Realtime` after their transaction has committed, so live
effects never announce a change that was rolled back. The live chat implements it with phxpy
(:class:`server.chat.live.ChatRealtime`); in tests of the REST layer alone,
:class:`NoRealtime` does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from server.domain import Event, EventId, Notification, UserId


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
