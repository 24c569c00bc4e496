"""Chat rooms: one per event, its status and its message counter."""

from __future__ import annotations

import json
from typing import NamedTuple

from server.db.database import Connection, Row
from server.db.sql import POSTGRESQL, Sql
from server.domain import ChatRoom, EventId, NotFound, RoomId, RoomStatus

ROOM_COLUMNS = """
    chat_rooms.id AS room_id,
    chat_rooms.event_id AS room_event_id,
    chat_rooms.status AS room_status,
    chat_rooms.last_seq AS room_last_seq,
    chat_rooms.activated_at AS room_activated_at,
    chat_rooms.archived_at AS room_archived_at,
    chat_rooms.slow_mode_seconds AS room_slow_mode_seconds,
    chat_rooms.moderation_version AS room_moderation_version
"""
"""Selected with these labels, so that a join with events cannot clash; see room_from_row."""

_BY_ID = Sql(f"SELECT {ROOM_COLUMNS} FROM chat_rooms WHERE id = $1")
_BY_EVENT = Sql(f"SELECT {ROOM_COLUMNS} FROM chat_rooms WHERE event_id = $1")
_MARKS_PG = Sql(
    "SELECT id, last_seq, moderation_version FROM chat_rooms WHERE id = ANY($1::text[])"
)
_MARKS_SQLITE = Sql(
    "SELECT id, last_seq, moderation_version FROM chat_rooms "
    "WHERE id IN (SELECT value FROM json_each($1))"
)


class RoomMarks(NamedTuple):
    """Where a room stands: its newest message's seq and its moderation's version."""

    last_seq: int
    moderation_version: int


def room_from_row(row: Row) -> ChatRoom:
    """A room from a row selected with ROOM_COLUMNS."""
    return ChatRoom(
        id=row["room_id"],
        event_id=row["room_event_id"],
        status=RoomStatus(row["room_status"]),
        last_seq=row["room_last_seq"],
        activated_at=row["room_activated_at"],
        archived_at=row["room_archived_at"],
        slow_mode_seconds=row["room_slow_mode_seconds"],
        moderation_version=row["room_moderation_version"],
    )


async def get_room(conn: Connection, room_id: RoomId) -> ChatRoom:
    row = await conn.fetchrow(_BY_ID, room_id)
    if row is None:
        raise NotFound("chat room")
    return room_from_row(row)


async def get_room_for_event(conn: Connection, event_id: EventId) -> ChatRoom:
    row = await conn.fetchrow(_BY_EVENT, event_id)
    if row is None:
        raise NotFound("chat room")
    return room_from_row(row)


async def room_marks(conn: Connection, room_ids: list[RoomId]) -> dict[RoomId, RoomMarks]:
    """Where each room stands, in one query (rooms that no longer exist are left out)."""
    if not room_ids:
        return {}
    if conn.dialect == POSTGRESQL:
        rows = await conn.fetch(_MARKS_PG, room_ids)
    else:
        rows = await conn.fetch(_MARKS_SQLITE, json.dumps(room_ids))
    return {
        row["id"]: RoomMarks(int(row["last_seq"]), int(row["moderation_version"])) for row in rows
    }
