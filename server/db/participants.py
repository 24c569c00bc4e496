"""A room's participants: everyone admitted to it (a user who joined with a ticket of the
event), in the order they first came in, paged by a keyset (first join time, user id), so a
page never repeats or skips anyone when people join meanwhile. Members the organisers removed
are not participants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from server.db.database import Connection
from server.db.sql import Sql, as_datetime
from server.domain import EventId, RoomId, UserId

_SELECT = """
    SELECT tickets.user_id, users.username, min(tickets.used_at) AS joined_at
    FROM tickets JOIN users ON users.id = tickets.user_id
    WHERE tickets.event_id = $1 AND tickets.used_at IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM room_restrictions
          WHERE room_restrictions.chat_room_id = $2 AND room_restrictions.user_id = tickets.user_id
            AND room_restrictions.kind = 'removed')
    GROUP BY tickets.user_id, users.username
"""
_FIRST_PAGE = Sql(f"{_SELECT} ORDER BY joined_at, tickets.user_id LIMIT $3")
_NEXT_PAGE = Sql(
    f"""
    {_SELECT}
    HAVING (min(tickets.used_at), tickets.user_id) > ($4, $5)
    ORDER BY joined_at, tickets.user_id LIMIT $3
    """
)
_COUNT = Sql(
    """
    SELECT count(DISTINCT tickets.user_id) FROM tickets
    WHERE tickets.event_id = $1 AND tickets.used_at IS NOT NULL AND tickets.user_id IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM room_restrictions
          WHERE room_restrictions.chat_room_id = $2 AND room_restrictions.user_id = tickets.user_id
            AND room_restrictions.kind = 'removed')
    """
)


@dataclass(frozen=True, slots=True)
class Participant:
    user_id: UserId
    username: str
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ends: the last participant's (joined_at, user_id)."""

    joined_at: datetime
    user_id: UserId


async def participants(
    conn: Connection,
    *,
    event_id: EventId,
    room_id: RoomId,
    after: Position | None,
    limit: int,
) -> list[Participant]:
    """Up to ``limit`` participants, the first ones after ``after`` (from the start: None)."""
    if after is None:
        rows = await conn.fetch(_FIRST_PAGE, event_id, room_id, limit)
    else:
        rows = await conn.fetch(
            _NEXT_PAGE, event_id, room_id, limit, after.joined_at, after.user_id
        )
    found = []
    for row in rows:
        joined_at = as_datetime(row["joined_at"])
        assert joined_at is not None
        found.append(Participant(row["user_id"], row["username"], joined_at))
    return found


async def count_participants(conn: Connection, *, event_id: EventId, room_id: RoomId) -> int:
    return int(await conn.fetchval(_COUNT, event_id, room_id))
