"""Chat rooms: one per event, its status machine and its message counter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.common import AnyRow
from server.db.schema import chat_rooms
from server.domain import (
    ROOM_TRANSITIONS,
    ChatRoom,
    Conflict,
    EventId,
    NotFound,
    RoomId,
    RoomStatus,
)

ROOM_COLUMNS = (
    chat_rooms.c.id.label("room_id"),
    chat_rooms.c.event_id.label("room_event_id"),
    chat_rooms.c.status.label("room_status"),
    chat_rooms.c.last_seq.label("room_last_seq"),
    chat_rooms.c.activated_at.label("room_activated_at"),
    chat_rooms.c.archived_at.label("room_archived_at"),
)


def room_from_row(row: AnyRow) -> ChatRoom:
    """A room from a row selected with ROOM_COLUMNS (labels avoid clashes in joins)."""
    return ChatRoom(
        id=row.room_id,
        event_id=row.room_event_id,
        status=RoomStatus(row.room_status),
        last_seq=row.room_last_seq,
        activated_at=row.room_activated_at,
        archived_at=row.room_archived_at,
    )


async def get_room(conn: AsyncConnection, room_id: RoomId) -> ChatRoom:
    row = (await conn.execute(select(*ROOM_COLUMNS).where(chat_rooms.c.id == room_id))).first()
    if row is None:
        raise NotFound("chat room")
    return room_from_row(row)


async def get_room_for_event(conn: AsyncConnection, event_id: EventId) -> ChatRoom:
    row = (
        await conn.execute(select(*ROOM_COLUMNS).where(chat_rooms.c.event_id == event_id))
    ).first()
    if row is None:
        raise NotFound("chat room")
    return room_from_row(row)


async def transition_room(
    conn: AsyncConnection, room_id: RoomId, to: RoomStatus, *, now: datetime
) -> ChatRoom | None:
    """Move the room to ``to`` if ROOM_TRANSITIONS allows it from its current status.

    One conditional UPDATE, so when two timers or two nodes race, exactly one gets the room back
    and does the step's side effects (broadcast, notifications); the others get None.
    """
    values: dict[str, Any] = {"status": to.value, "updated_at": now}
    if to is RoomStatus.ACTIVE:
        values["activated_at"] = now
    elif to is RoomStatus.ARCHIVED:
        values["archived_at"] = now
    else:  # re-planned: both steps are due again
        values["activated_at"] = None
        values["archived_at"] = None
    sources = sorted(status.value for status in ROOM_TRANSITIONS[to])
    statement = (
        update(chat_rooms)
        .where(chat_rooms.c.id == room_id, chat_rooms.c.status.in_(sources))
        .values(**values)
        .returning(*ROOM_COLUMNS)
    )
    row = (await conn.execute(statement)).first()
    return None if row is None else room_from_row(row)


async def next_message_seq(
    conn: AsyncConnection, room_id: RoomId, *, require_active: bool = True
) -> int:
    """Hand out the room's next message seq (atomic ``last_seq = last_seq + 1``).

    With ``require_active`` the increment happens only while the room is active, in the same
    statement, so a message can never slip in after the room was archived.
    """
    statement = (
        update(chat_rooms)
        .where(chat_rooms.c.id == room_id)
        .values(last_seq=chat_rooms.c.last_seq + 1)
        .returning(chat_rooms.c.last_seq)
    )
    if require_active:
        statement = statement.where(chat_rooms.c.status == RoomStatus.ACTIVE.value)
    seq = (await conn.execute(statement)).scalar()
    if seq is None:
        await get_room(conn, room_id)  # raises NotFound for a missing room
        raise Conflict("chat room is not active")
    return int(seq)
