"""Authorisation rules shared by the REST API and the chat channels."""

from __future__ import annotations

from server.db import moderation
from server.db.database import Connection
from server.domain import EventId, UserId


async def may_read_room(conn: Connection, user_id: UserId, event_id: EventId) -> bool:
    """Who may read a room's history and its participants: a ticket holder (a user with an
    assigned ticket for the event) whom the organisers did not remove from the room."""
    return await moderation.may_read_room(conn, event_id=event_id, user_id=user_id)
