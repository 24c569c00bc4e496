"""Events, each created together with its chat room."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from server.db.common import AnyRow, new_id, violates
from server.db.rooms import ROOM_COLUMNS, room_from_row
from server.db.schema import chat_rooms, events
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


def _event_query() -> Select[Any]:
    return select(
        events.c.id,
        events.c.name,
        events.c.description,
        events.c.location,
        events.c.start_time,
        events.c.end_time,
        events.c.inserted_at,
        events.c.updated_at,
        *ROOM_COLUMNS,
    ).join(chat_rooms, chat_rooms.c.event_id == events.c.id)


def _event_from_row(row: AnyRow) -> Event:
    return Event(
        id=row.id,
        name=row.name,
        description=row.description,
        location=row.location,
        start_time=row.start_time,
        end_time=row.end_time,
        chat_room=room_from_row(row),
        inserted_at=row.inserted_at,
        updated_at=row.updated_at,
    )


async def create_event(conn: AsyncConnection, new: NewEvent, *, now: datetime) -> Event:
    """Store the event and its (inactive) chat room."""
    if new.end_time <= new.start_time:
        raise Invalid.field("end_time", END_BEFORE_START)
    event_id = new_id()
    await conn.execute(
        insert(events).values(
            id=event_id,
            name=new.name,
            description=new.description,
            location=new.location,
            start_time=new.start_time,
            end_time=new.end_time,
            inserted_at=now,
            updated_at=now,
        )
    )
    await conn.execute(
        insert(chat_rooms).values(
            id=new_id(),
            event_id=event_id,
            status=RoomStatus.INACTIVE.value,
            last_seq=0,
            inserted_at=now,
            updated_at=now,
        )
    )
    return await get_event(conn, event_id)


async def get_event(conn: AsyncConnection, event_id: EventId) -> Event:
    row = (await conn.execute(_event_query().where(events.c.id == event_id))).first()
    if row is None:
        raise NotFound("event")
    return _event_from_row(row)


async def list_upcoming_events(conn: AsyncConnection, *, now: datetime) -> list[Event]:
    """Events that have not ended yet, soonest first."""
    query = _event_query().where(events.c.end_time > now).order_by(events.c.start_time, events.c.id)
    return [_event_from_row(row) for row in await conn.execute(query)]


async def list_events_with_room_status(
    conn: AsyncConnection, statuses: Iterable[RoomStatus]
) -> list[Event]:
    """Events whose room is in one of ``statuses`` (e.g. to plan the schedule after a restart)."""
    query = (
        _event_query()
        .where(chat_rooms.c.status.in_(sorted(status.value for status in statuses)))
        .order_by(events.c.start_time, events.c.id)
    )
    return [_event_from_row(row) for row in await conn.execute(query)]


async def update_event(
    conn: AsyncConnection, event_id: EventId, changes: EventChanges, *, now: datetime
) -> EventUpdate:
    """Apply a partial update; ``changed_fields`` lists the fields whose value really changed."""
    current = await get_event(conn, event_id)
    start = changes.start_time or current.start_time
    end = changes.end_time or current.end_time
    if end <= start:
        raise Invalid.field("end_time", END_BEFORE_START)
    values: dict[str, Any] = {}
    for field in EVENT_FIELDS:
        new_value = getattr(changes, field)
        if new_value is not None and new_value != getattr(current, field):
            values[field] = new_value
    if not values:
        return EventUpdate(event=current, changed_fields=frozenset())
    statement = update(events).where(events.c.id == event_id).values(**values, updated_at=now)
    try:
        result = await conn.execute(statement)
    except IntegrityError as error:
        # A concurrent update moved the other end of the interval past this one.
        if violates(error, "ck_events_end_after_start"):
            raise Invalid.field("end_time", END_BEFORE_START) from None
        raise
    if result.rowcount == 0:
        raise NotFound("event")
    return EventUpdate(event=await get_event(conn, event_id), changed_fields=frozenset(values))


async def delete_event(conn: AsyncConnection, event_id: EventId) -> None:
    """Delete the event; its tickets, room, messages and notifications go with it (cascades)."""
    result = await conn.execute(delete(events).where(events.c.id == event_id))
    if result.rowcount == 0:
        raise NotFound("event")
