"""Events, each created together with its chat room."""

from __future__ import annotations

from datetime import datetime

from server.db.common import new_id
from server.db.database import Connection, IntegrityError, Row
from server.db.rooms import ROOM_COLUMNS, room_from_row
from server.db.sql import Sql
from server.domain import (
    Event,
    EventChanges,
    EventId,
    EventUpdate,
    Invalid,
    NewEvent,
    NotFound,
    RoomStatus,
)

EVENT_FIELDS = ("name", "description", "location", "start_time", "end_time")
END_BEFORE_START = "must be after start_time"

_SELECT = f"""
    SELECT events.id, events.name, events.description, events.location, events.start_time,
           events.end_time, events.inserted_at, events.updated_at, {ROOM_COLUMNS}
    FROM events JOIN chat_rooms ON chat_rooms.event_id = events.id
"""
_GET = Sql(f"{_SELECT} WHERE events.id = $1")
_UPCOMING = Sql(f"{_SELECT} WHERE events.end_time > $1 ORDER BY events.start_time, events.id")
_INSERT = Sql(
    """
    INSERT INTO events (id, name, description, location, start_time, end_time, inserted_at,
                        updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
    """
)
_INSERT_ROOM = Sql(
    """
    INSERT INTO chat_rooms (id, event_id, status, last_seq, inserted_at, updated_at)
    VALUES ($1, $2, $3, 0, $4, $4)
    """
)
# A NULL parameter keeps the column.
_UPDATE = Sql(
    """
    UPDATE events SET
        name = coalesce($2, name),
        description = coalesce($3, description),
        location = coalesce($4, location),
        start_time = coalesce($5, start_time),
        end_time = coalesce($6, end_time),
        updated_at = $7
    WHERE id = $1
    """
)
_DELETE = Sql("DELETE FROM events WHERE id = $1")


def _event_from_row(row: Row) -> Event:
    return Event(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        location=row["location"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        chat_room=room_from_row(row),
        inserted_at=row["inserted_at"],
        updated_at=row["updated_at"],
    )


async def create_event(conn: Connection, new: NewEvent, *, now: datetime) -> Event:
    """Store the event and its (inactive) chat room."""
    if new.end_time <= new.start_time:
        raise Invalid.field("end_time", END_BEFORE_START)
    event_id = new_id()
    await conn.execute(
        _INSERT,
        event_id,
        new.name,
        new.description,
        new.location,
        new.start_time,
        new.end_time,
        now,
    )
    await conn.execute(_INSERT_ROOM, new_id(), event_id, RoomStatus.INACTIVE.value, now)
    return await get_event(conn, event_id)


async def get_event(conn: Connection, event_id: EventId) -> Event:
    row = await conn.fetchrow(_GET, event_id)
    if row is None:
        raise NotFound("event")
    return _event_from_row(row)


async def list_upcoming_events(conn: Connection, *, now: datetime) -> list[Event]:
    """Events that have not ended yet, soonest first."""
    return [_event_from_row(row) for row in await conn.fetch(_UPCOMING, now)]


async def update_event(
    conn: Connection, event_id: EventId, changes: EventChanges, *, now: datetime
) -> EventUpdate:
    """Apply a partial update; ``changed_fields`` lists the fields whose value really changed."""
    current = await get_event(conn, event_id)
    start = changes.start_time or current.start_time
    end = changes.end_time or current.end_time
    if end <= start:
        raise Invalid.field("end_time", END_BEFORE_START)
    changed = {
        name: value
        for name in EVENT_FIELDS
        if (value := getattr(changes, name)) is not None and value != getattr(current, name)
    }
    if not changed:
        return EventUpdate(event=current, changed_fields=frozenset())
    try:
        count = await conn.execute(
            _UPDATE, event_id, *(changed.get(name) for name in EVENT_FIELDS), now
        )
    except IntegrityError as error:
        # A concurrent update moved the other end of the interval past this one.
        if error.violates("ck_events_end_after_start"):
            raise Invalid.field("end_time", END_BEFORE_START) from None
        raise
    if count == 0:
        raise NotFound("event")
    return EventUpdate(event=await get_event(conn, event_id), changed_fields=frozenset(changed))


async def delete_event(conn: Connection, event_id: EventId) -> None:
    """Delete the event; its tickets, room, messages and notifications go with it (cascades)."""
    if await conn.execute(_DELETE, event_id) == 0:
        raise NotFound("event")
