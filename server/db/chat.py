"""Queries of the live chat (issue 5): who may rejoin, and the rooms' schedule.

The schedule's steps are conditional UPDATEs (``… WHERE id = :room AND status = :from``), so
when two timers or two nodes try the same step, exactly one of them gets the row back and
does the step's side effects; a restart re-runs the catch-up query and finds nothing left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.schema import chat_rooms, events, tickets, users
from server.domain import EventId, RoomId, RoomStatus, UserId


@dataclass(frozen=True, slots=True)
class RoomStep:
    """A room whose status is not what its event's times say it should be at ``now``."""

    room_id: RoomId
    event_id: EventId
    event_name: str
    current: RoomStatus
    target: RoomStatus


async def holds_used_ticket(conn: AsyncConnection, *, user_id: UserId, event_id: EventId) -> bool:
    """Whether the user already joined this event's chat with a ticket (and so may rejoin with
    no ticket number: phoenix.js resends the same join params after every reconnect)."""
    query = select(tickets.c.id).where(
        tickets.c.event_id == event_id,
        tickets.c.user_id == user_id,
        tickets.c.used_at.is_not(None),
    )
    return (await conn.execute(query.limit(1))).first() is not None


async def username_of(conn: AsyncConnection, user_id: UserId) -> str | None:
    row = (await conn.execute(select(users.c.username).where(users.c.id == user_id))).first()
    return None if row is None else str(row.username)


def _target_status(now: datetime, lead: timedelta) -> Any:
    """The status a room should have at ``now``, as a SQL CASE over its event's times.

    Written with the thresholds as bound parameters (``start_time <= now + lead``) rather than
    date arithmetic on columns, which SQLite and PostgreSQL spell differently.
    """
    return case(
        (events.c.end_time <= now, RoomStatus.ARCHIVED.value),
        (events.c.start_time <= now + lead, RoomStatus.ACTIVE.value),
        else_=RoomStatus.INACTIVE.value,
    )


async def rooms_out_of_step(
    conn: AsyncConnection, *, now: datetime, lead: timedelta
) -> list[RoomStep]:
    """Every room whose status differs from what its event's times say at ``now``: due steps
    forward (open, archive) and, after an event was moved, steps back."""
    target = _target_status(now, lead).label("target")
    query = (
        select(
            chat_rooms.c.id,
            chat_rooms.c.event_id,
            chat_rooms.c.status,
            events.c.name,
            target,
        )
        .join(events, events.c.id == chat_rooms.c.event_id)
        .where(chat_rooms.c.status != _target_status(now, lead))
        .order_by(events.c.start_time, chat_rooms.c.id)
    )
    return [
        RoomStep(
            room_id=row.id,
            event_id=row.event_id,
            event_name=row.name,
            current=RoomStatus(row.status),
            target=RoomStatus(row.target),
        )
        for row in await conn.execute(query)
    ]


async def take_room_step(conn: AsyncConnection, step: RoomStep, *, now: datetime) -> bool:
    """Move the room from ``step.current`` to ``step.target`` if it is still in
    ``step.current``. True for the one caller that moved it."""
    values: dict[str, Any] = {"status": step.target.value, "updated_at": now}
    if step.target is RoomStatus.ACTIVE:
        values.update(activated_at=now, archived_at=None)
    elif step.target is RoomStatus.ARCHIVED:
        values["archived_at"] = now
    else:  # moved back before its opening: both steps are due again
        values.update(activated_at=None, archived_at=None)
    statement = (
        update(chat_rooms)
        .where(chat_rooms.c.id == step.room_id, chat_rooms.c.status == step.current.value)
        .values(**values)
    )
    result = await conn.execute(statement)
    return result.rowcount == 1


async def next_step_time(
    conn: AsyncConnection, *, now: datetime, lead: timedelta
) -> datetime | None:
    """When the next room opens or closes (after ``now``), or None if nothing is planned."""
    next_opening = (
        select(func.min(events.c.start_time))
        .select_from(chat_rooms.join(events, events.c.id == chat_rooms.c.event_id))
        .where(
            chat_rooms.c.status == RoomStatus.INACTIVE.value,
            events.c.start_time > now + lead,
        )
    )
    next_closing = (
        select(func.min(events.c.end_time))
        .select_from(chat_rooms.join(events, events.c.id == chat_rooms.c.event_id))
        .where(
            chat_rooms.c.status != RoomStatus.ARCHIVED.value,
            events.c.end_time > now,
        )
    )
    opening = (await conn.execute(next_opening)).scalar()
    closing = (await conn.execute(next_closing)).scalar()
    candidates = [moment for moment in (opening and opening - lead, closing) if moment]
    return min(candidates) if candidates else None
