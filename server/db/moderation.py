"""The organisers' moderation of a room: its state, the actions that change it, the audit log.

Each action runs in the caller's write transaction: it locks the room's row (PostgreSQL;
SQLite's writer is one at a time anyway), compares what is asked with what is stored, and
only when something changes writes the change, bumps ``chat_rooms.moderation_version`` and
appends an entry numbered by it to ``moderation_log``. So every action is idempotent (asking
again for what is already so changes nothing and logs nothing), and a node that holds the
room's state in memory can tell from the version whether its copy is current.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.db.database import Connection, PostgresConnection, Row
from server.db.rooms import ROOM_COLUMNS, room_from_row
from server.db.sql import Sql
from server.domain import (
    DOES_NOT_EXIST,
    MUTED,
    REMOVED,
    ChatRoom,
    EventId,
    HiddenMessage,
    Invalid,
    MessageId,
    ModerationLogEntry,
    NotFound,
    Restriction,
    RoomId,
    RoomModeration,
    UserId,
)
from server.limits import (
    SEQ_MAX,
)

NOT_A_HOLDER = "holds no ticket for this event"
NOT_IN_THIS_ROOM = "is not a message of this event's chat room"

_ROOM = f"SELECT {ROOM_COLUMNS} FROM chat_rooms WHERE event_id = $1"
_ROOM_BY_EVENT = Sql(_ROOM)
_LOCK_ROOM_POSTGRES = Sql(f"{_ROOM} FOR UPDATE")
_ROOM_BY_ID = Sql(f"SELECT {ROOM_COLUMNS} FROM chat_rooms WHERE id = $1")
_RESTRICTIONS = Sql(
    """
    SELECT room_restrictions.user_id, users.username, room_restrictions.kind,
           room_restrictions.ends_at, room_restrictions.reason, room_restrictions.actor,
           room_restrictions.inserted_at
    FROM room_restrictions JOIN users ON users.id = room_restrictions.user_id
    WHERE room_restrictions.chat_room_id = $1
    ORDER BY room_restrictions.inserted_at, room_restrictions.user_id, room_restrictions.kind
    """
)
_HIDDEN = Sql(
    """
    SELECT message_id, seq, reason, actor, hidden_at FROM hidden_messages
    WHERE chat_room_id = $1 ORDER BY seq
    """
)
_USER_STANDING = Sql(
    """
    SELECT EXISTS (SELECT 1 FROM tickets WHERE event_id = $1 AND user_id = $2) AS holder
    FROM users WHERE id = $2
    """
)
_RESTRICTION = Sql(
    """
    SELECT ends_at, reason FROM room_restrictions
    WHERE chat_room_id = $1 AND user_id = $2 AND kind = $3
    """
)
_PUT_RESTRICTION = Sql(
    """
    INSERT INTO room_restrictions (chat_room_id, user_id, kind, ends_at, reason, actor,
                                   inserted_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (chat_room_id, user_id, kind) DO UPDATE SET
        ends_at = excluded.ends_at, reason = excluded.reason, actor = excluded.actor,
        inserted_at = excluded.inserted_at
    """
)
_LIFT_RESTRICTION = Sql(
    "DELETE FROM room_restrictions WHERE chat_room_id = $1 AND user_id = $2 AND kind = $3"
)
_SET_SLOW_MODE = Sql("UPDATE chat_rooms SET slow_mode_seconds = $2 WHERE id = $1")
_MESSAGE = Sql(
    """
    SELECT messages.chat_room_id, messages.seq, hidden_messages.seq IS NOT NULL AS hidden
    FROM messages
    LEFT JOIN hidden_messages ON hidden_messages.chat_room_id = messages.chat_room_id
                             AND hidden_messages.seq = messages.seq
    WHERE messages.id = $1
    """
)
_HIDE = Sql(
    """
    INSERT INTO hidden_messages (chat_room_id, seq, message_id, actor, reason, hidden_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    """
)
_BUMP = Sql(
    "UPDATE chat_rooms SET moderation_version = moderation_version + 1 WHERE id = $1 "
    "RETURNING moderation_version"
)
_LOG = Sql(
    """
    INSERT INTO moderation_log (chat_room_id, version, action, actor, user_id, message_id,
                                details, inserted_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    """
)
_LOG_PAGE = Sql(
    """
    SELECT version, action, actor, user_id, message_id, details, inserted_at
    FROM moderation_log
    WHERE chat_room_id = $1 AND version < $2
    ORDER BY version DESC LIMIT $3
    """
)
# A reader of the room's history and participants: holds a ticket and was not removed.
_READER = Sql(
    """
    SELECT EXISTS (SELECT 1 FROM tickets WHERE event_id = $1 AND user_id = $2)
       AND NOT EXISTS (
           SELECT 1 FROM room_restrictions
           JOIN chat_rooms ON chat_rooms.id = room_restrictions.chat_room_id
           WHERE chat_rooms.event_id = $1 AND room_restrictions.user_id = $2
             AND room_restrictions.kind = 'removed')
    """
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did: whether it changed anything, and the room's state after it."""

    changed: bool
    state: RoomModeration


# ------------------------------------------------------------------------------- reading


async def room_moderation(conn: Connection, room: ChatRoom) -> RoomModeration:
    """The room's whole moderation state (expired mutes included; see
    :meth:`RoomModeration.mutes`)."""
    restrictions = tuple(
        Restriction(
            user_id=row["user_id"],
            username=row["username"],
            kind=row["kind"],
            ends_at=row["ends_at"],
            reason=row["reason"],
            actor=row["actor"],
            since=row["inserted_at"],
        )
        for row in await conn.fetch(_RESTRICTIONS, room.id)
    )
    hidden = tuple(
        HiddenMessage(
            message_id=row["message_id"],
            seq=row["seq"],
            reason=row["reason"],
            actor=row["actor"],
            hidden_at=row["hidden_at"],
        )
        for row in await conn.fetch(_HIDDEN, room.id)
    )
    return RoomModeration(
        event_id=room.event_id,
        room_id=room.id,
        version=room.moderation_version,
        slow_mode_seconds=room.slow_mode_seconds,
        restrictions=restrictions,
        hidden=hidden,
    )


async def load_room_moderation(conn: Connection, room_id: RoomId) -> RoomModeration:
    row = await conn.fetchrow(_ROOM_BY_ID, room_id)
    if row is None:
        raise NotFound("chat room")
    return await room_moderation(conn, room_from_row(row))


async def event_moderation(conn: Connection, event_id: EventId) -> RoomModeration:
    row = await conn.fetchrow(_ROOM_BY_EVENT, event_id)
    if row is None:
        raise NotFound("event")
    return await room_moderation(conn, room_from_row(row))


async def moderation_log(
    conn: Connection, room_id: RoomId, *, before: int | None, limit: int
) -> list[ModerationLogEntry]:
    """The room's audit log, newest first, paged by ``before`` (a version)."""
    rows = await conn.fetch(_LOG_PAGE, room_id, SEQ_MAX if before is None else before, limit)
    return [_entry(row) for row in rows]


async def may_read_room(conn: Connection, *, event_id: EventId, user_id: UserId) -> bool:
    """Whether the user holds a ticket of the event and was not removed from its room."""
    return bool(await conn.fetchval(_READER, event_id, user_id))


# ------------------------------------------------------------------------------- actions


async def set_slow_mode(
    conn: Connection, *, event_id: EventId, seconds: int, actor: str, now: datetime
) -> Outcome:
    room = await _lock_room(conn, event_id)
    if room.slow_mode_seconds == seconds:
        return await _unchanged(conn, room)
    await conn.execute(_SET_SLOW_MODE, room.id, seconds)
    details = {"seconds": seconds, "previous_seconds": room.slow_mode_seconds}
    return await _changed(conn, room, "slow_mode", actor, now, details=details)


async def mute(
    conn: Connection,
    *,
    event_id: EventId,
    user_id: UserId,
    until: datetime,
    reason: str | None,
    actor: str,
    now: datetime,
) -> Outcome:
    """Mute the member until ``until`` (a later or earlier end replaces the current one)."""
    room = await _lock_room(conn, event_id)
    await _check_member(conn, event_id, user_id)
    current = await conn.fetchrow(_RESTRICTION, room.id, user_id, MUTED)
    if current is not None and current["ends_at"] == until and current["reason"] == reason:
        return await _unchanged(conn, room)
    await conn.execute(_PUT_RESTRICTION, room.id, user_id, MUTED, until, reason, actor, now)
    details = {"until": _iso(until), "seconds": int((until - now).total_seconds())}
    if reason is not None:
        details["reason"] = reason
    return await _changed(conn, room, "mute", actor, now, user_id=user_id, details=details)


async def unmute(
    conn: Connection, *, event_id: EventId, user_id: UserId, actor: str, now: datetime
) -> Outcome:
    """Lift the member's mute; a mute that has already run out counts as lifted."""
    room = await _lock_room(conn, event_id)
    await _check_member(conn, event_id, user_id)
    current = await conn.fetchrow(_RESTRICTION, room.id, user_id, MUTED)
    await conn.execute(_LIFT_RESTRICTION, room.id, user_id, MUTED)
    if current is None or current["ends_at"] <= now:
        return await _unchanged(conn, room)
    return await _changed(conn, room, "unmute", actor, now, user_id=user_id)


async def remove(
    conn: Connection,
    *,
    event_id: EventId,
    user_id: UserId,
    reason: str | None,
    actor: str,
    now: datetime,
) -> Outcome:
    room = await _lock_room(conn, event_id)
    await _check_member(conn, event_id, user_id)
    current = await conn.fetchrow(_RESTRICTION, room.id, user_id, REMOVED)
    if current is not None and current["reason"] == reason:
        return await _unchanged(conn, room)
    await conn.execute(_PUT_RESTRICTION, room.id, user_id, REMOVED, None, reason, actor, now)
    details = {} if reason is None else {"reason": reason}
    return await _changed(conn, room, "remove", actor, now, user_id=user_id, details=details)


async def reinstate(
    conn: Connection, *, event_id: EventId, user_id: UserId, actor: str, now: datetime
) -> Outcome:
    room = await _lock_room(conn, event_id)
    await _check_member(conn, event_id, user_id)
    if await conn.execute(_LIFT_RESTRICTION, room.id, user_id, REMOVED) == 0:
        return await _unchanged(conn, room)
    return await _changed(conn, room, "reinstate", actor, now, user_id=user_id)


async def hide_message(
    conn: Connection,
    *,
    event_id: EventId,
    message_id: MessageId,
    reason: str | None,
    actor: str,
    now: datetime,
) -> tuple[Outcome, int]:
    """Hide a message of the event's room; returns the outcome and the message's seq."""
    room = await _lock_room(conn, event_id)
    row = await conn.fetchrow(_MESSAGE, message_id)
    if row is None:
        raise Invalid.field("message_id", DOES_NOT_EXIST)
    if row["chat_room_id"] != room.id:
        raise Invalid.field("message_id", NOT_IN_THIS_ROOM)
    seq = int(row["seq"])
    if row["hidden"]:
        return await _unchanged(conn, room), seq
    await conn.execute(_HIDE, room.id, seq, message_id, actor, reason, now)
    details: dict[str, Any] = {"seq": seq}
    if reason is not None:
        details["reason"] = reason
    outcome = await _changed(conn, room, "hide", actor, now, message_id=message_id, details=details)
    return outcome, seq


async def log_announcement(
    conn: Connection,
    *,
    event_id: EventId,
    message_id: MessageId,
    seq: int,
    actor: str,
    now: datetime,
) -> Outcome:
    """Audit an announcement the chat stored (its message records what was said)."""
    room = await _lock_room(conn, event_id)
    details = {"seq": seq}
    return await _changed(
        conn, room, "announce", actor, now, message_id=message_id, details=details
    )


# ------------------------------------------------------------------------------ internals


async def _lock_room(conn: Connection, event_id: EventId) -> ChatRoom:
    """The event's room, locked until the transaction ends (PostgreSQL: two actions on one
    room take turns, so each compares against what the other wrote)."""
    lock = _LOCK_ROOM_POSTGRES if isinstance(conn, PostgresConnection) else _ROOM_BY_EVENT
    row = await conn.fetchrow(lock, event_id)
    if row is None:
        raise NotFound("event")
    return room_from_row(row)


async def _check_member(conn: Connection, event_id: EventId, user_id: UserId) -> None:
    """Only a holder of one of the event's tickets can be muted or removed from its room."""
    row = await conn.fetchrow(_USER_STANDING, event_id, user_id)
    if row is None:
        raise Invalid.field("user_id", DOES_NOT_EXIST)
    if not row["holder"]:
        raise Invalid.field("user_id", NOT_A_HOLDER)


async def _unchanged(conn: Connection, room: ChatRoom) -> Outcome:
    return Outcome(changed=False, state=await room_moderation(conn, room))


async def _changed(
    conn: Connection,
    room: ChatRoom,
    action: str,
    actor: str,
    now: datetime,
    *,
    user_id: UserId | None = None,
    message_id: MessageId | None = None,
    details: Mapping[str, Any] | None = None,
) -> Outcome:
    version = await _record(
        conn, room, action, actor, now, user_id=user_id, message_id=message_id, details=details
    )
    after = await conn.fetchrow(_ROOM_BY_ID, room.id)
    assert after is not None and after["room_moderation_version"] == version
    return Outcome(changed=True, state=await room_moderation(conn, room_from_row(after)))


async def _record(
    conn: Connection,
    room: ChatRoom,
    action: str,
    actor: str,
    now: datetime,
    *,
    user_id: UserId | None = None,
    message_id: MessageId | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    version = int(await conn.fetchval(_BUMP, room.id))
    encoded = json.dumps(dict(details or {}), sort_keys=True, separators=(",", ":"))
    await conn.execute(_LOG, room.id, version, action, actor, user_id, message_id, encoded, now)
    return version


def _entry(row: Row) -> ModerationLogEntry:
    return ModerationLogEntry(
        version=row["version"],
        action=row["action"],
        actor=row["actor"],
        user_id=row["user_id"],
        message_id=row["message_id"],
        details=json.loads(row["details"]),
        inserted_at=row["inserted_at"],
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
