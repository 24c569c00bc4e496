"""Authorisation rules shared by the REST API and the chat channels."""

from __future__ import annotations

from server.db import tickets
from server.db.database import Connection
from server.domain import EventId, UserId


async def is_ticket_holder(conn: Connection, user_id: UserId, event_id: EventId) -> bool:
    """A ticket holder (who may read the room's history and chat) has an assigned ticket for
    the event."""
    return await tickets.holds_ticket(conn, user_id=user_id, event_id=event_id)
