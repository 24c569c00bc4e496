"""Queries of the live chat: what a join needs, and the rooms' schedule.

The schedule's steps are conditional UPDATEs (``… WHERE id = $1 AND status = $2``), so when two
timers or two nodes try the same step, exactly one of them changes the row and does the
step's side effects; a restart re-runs the catch-up query and finds nothing left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from server.db.database import Connection
from server.db.rooms import ROOM_COLUMNS, room_from_row
from server.db.sql import Sql, as_datetime
from server.domain import ChatRoom, EventId, RoomId, RoomStatus, UserId


@dataclass(frozen=True, slots=True)
class JoinFacts:
    """What deciding a join takes, read in one round trip."""

    room: ChatRoom
    username: str | None
    """None when the user is gone (deleted meanwhile)."""
    holds_used_ticket: bool
    """The user already joined with a ticket of this event, so may rejoin with no number."""


@dataclass(frozen=True, slots=True)
class RoomStep:
    """A room whose status is not what its event's times say it should be at ``now``."""

    room_id: RoomId
    event_id: EventId
    event_name: str
    current: RoomStatus
    target: RoomStatus


_JOIN_FACTS = Sql(
    f"""
    SELECT {ROOM_COLUMNS},
           (SELECT username FROM users WHERE id = $2) AS username,
           EXISTS (SELECT 1 FROM tickets
                   WHERE event_id = $1 AND user_id = $2 AND used_at IS NOT NULL) AS holds_used
    FROM chat_rooms WHERE event_id = $1
    """
)

# The status a room should have at $1, with $2 = $1 + the opening lead: thresholds as bound
# parameters rather than date arithmetic on columns, which the two databases spell differently.
_TARGET = """
    CASE WHEN events.end_time <= $1 THEN 'archived'
         WHEN events.start_time <= $2 THEN 'active'
         ELSE 'inactive' END
"""
_OUT_OF_STEP = Sql(
    f"""
    SELECT chat_rooms.id, chat_rooms.event_id, chat_rooms.status, events.name,
           {_TARGET} AS target
    FROM chat_rooms JOIN events ON events.id = chat_rooms.event_id
    WHERE chat_rooms.status <> {_TARGET}
    ORDER BY events.start_time, chat_rooms.id
    """
)
# Opening clears archived_at and moving back clears both: each step is then due again.
_STEP = Sql(
    """
    UPDATE chat_rooms SET
        status = $3,
        updated_at = $4,
        activated_at = CASE WHEN $3 = 'active' THEN $4
                            WHEN $3 = 'archived' THEN activated_at END,
        archived_at = CASE WHEN $3 = 'archived' THEN $4 END
    WHERE id = $1 AND status = $2
    """
)
_NEXT_OPENING = Sql(
    """
    SELECT min(events.start_time) FROM chat_rooms JOIN events ON events.id = chat_rooms.event_id
    WHERE chat_rooms.status = 'inactive' AND events.start_time > $1
    """
)
_NEXT_CLOSING = Sql(
    """
    SELECT min(events.end_time) FROM chat_rooms JOIN events ON events.id = chat_rooms.event_id
    WHERE chat_rooms.status <> 'archived' AND events.end_time > $1
    """
)


async def join_facts(conn: Connection, *, event_id: EventId, user_id: UserId) -> JoinFacts | None:
    """The room of the event and the user's standing, or None when the event does not exist."""
    row = await conn.fetchrow(_JOIN_FACTS, event_id, user_id)
    if row is None:
        return None
    return JoinFacts(
        room=room_from_row(row),
        username=row["username"],
        holds_used_ticket=bool(row["holds_used"]),
    )


async def rooms_out_of_step(conn: Connection, *, now: datetime, lead: timedelta) -> list[RoomStep]:
    """Every room whose status differs from what its event's times say at ``now``: due steps
    forward (open, archive) and, after an event was moved, steps back."""
    return [
        RoomStep(
            room_id=row["id"],
            event_id=row["event_id"],
            event_name=row["name"],
            current=RoomStatus(row["status"]),
            target=RoomStatus(row["target"]),
        )
        for row in await conn.fetch(_OUT_OF_STEP, now, now + lead)
    ]


async def take_room_step(conn: Connection, step: RoomStep, *, now: datetime) -> bool:
    """Move the room from ``step.current`` to ``step.target`` if it is still in
    ``step.current``. True for the one caller that moved it."""
    moved = await conn.execute(_STEP, step.room_id, step.current.value, step.target.value, now)
    return moved == 1


async def next_step_time(conn: Connection, *, now: datetime, lead: timedelta) -> datetime | None:
    """When the next room opens or closes (after ``now``), or None if nothing is planned."""
    opening = as_datetime(await conn.fetchval(_NEXT_OPENING, now + lead))
    closing = as_datetime(await conn.fetchval(_NEXT_CLOSING, now))
    candidates = [moment for moment in (opening and opening - lead, closing) if moment]
    return min(candidates) if candidates else None
