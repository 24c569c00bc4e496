"""Queries of the live chat: what a join needs, and the rooms' schedule.

What a join needs is asked for many joins at once (:func:`join_facts_many`): the chat answers
the joins that arrive together with one query (``server.chat.joins``).

The schedule's steps are conditional UPDATEs (``… WHERE id = $1 AND status = $2``), so when two
timers or two nodes try the same step, exactly one of them changes the row and does the
step's side effects; a restart re-runs the catch-up query and finds nothing left.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.db.database import Connection, Row
from server.db.rooms import ROOM_COLUMNS, room_from_row
from server.db.sql import POSTGRESQL, Sql, as_datetime
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


# Each (event, user) pair asked, with its position, joined to the event's room (no row: no
# such event), the user's name (NULL: deleted meanwhile) and whether the user already joined
# with a ticket of the event.
_JOIN_FACTS_PG = Sql(
    f"""
    SELECT k.i, {ROOM_COLUMNS},
           users.username AS username,
           EXISTS (SELECT 1 FROM tickets
                   WHERE tickets.event_id = k.event_id AND tickets.user_id = k.user_id
                     AND tickets.used_at IS NOT NULL) AS holds_used
    FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(event_id, user_id, i)
    JOIN chat_rooms ON chat_rooms.event_id = k.event_id
    LEFT JOIN users ON users.id = k.user_id
    """
)
# SQLite: the pairs as one JSON array of [event, user] (json_each numbers them from 0).
_JOIN_FACTS_SQLITE = Sql(
    f"""
    SELECT k.key + 1 AS i, {ROOM_COLUMNS},
           (SELECT username FROM users WHERE users.id = k.value ->> 1) AS username,
           EXISTS (SELECT 1 FROM tickets
                   WHERE tickets.event_id = k.value ->> 0 AND tickets.user_id = k.value ->> 1
                     AND tickets.used_at IS NOT NULL) AS holds_used
    FROM json_each($1) AS k
    JOIN chat_rooms ON chat_rooms.event_id = k.value ->> 0
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
    [facts] = await join_facts_many(conn, [(event_id, user_id)])
    return facts


async def join_facts_many(
    conn: Connection, pairs: Sequence[tuple[EventId, UserId]]
) -> list[JoinFacts | None]:
    """:func:`join_facts` of each ``(event_id, user_id)`` pair, in order, in one query."""
    if not pairs:
        return []
    if conn.dialect == POSTGRESQL:
        events, users = ([event for event, _ in pairs], [user for _, user in pairs])
        rows = await conn.fetch(_JOIN_FACTS_PG, events, users)
    else:
        rows = await conn.fetch(_JOIN_FACTS_SQLITE, json.dumps(pairs))
    found: list[JoinFacts | None] = [None] * len(pairs)
    for row in rows:
        found[int(row["i"]) - 1] = _facts_from_row(row)
    return found


def _facts_from_row(row: Row) -> JoinFacts:
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
