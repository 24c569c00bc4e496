"""Notifications stored for users (event changes, the chat opening)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from server.db import outbox
from server.db.common import new_id
from server.db.database import Connection, PostgresConnection, Row, SqliteConnection
from server.db.sql import Sql
from server.db.tickets import holder_ids
from server.domain import (
    EventId,
    Forbidden,
    NewNotification,
    NotFound,
    Notification,
    NotificationId,
    NotificationStatus,
    UserId,
)

_COLUMNS = "id, user_id, event_id, kind, message, status, inserted_at"

# A notification whose dedupe_key its user already has is skipped: RETURNING gives only the
# ones stored now, so whoever stored them is the one to push them.
_INSERT = Sql(
    f"""
    INSERT INTO notifications (id, user_id, event_id, kind, message, status, dedupe_key,
                               inserted_at)
    VALUES ($1, $2, $3, $4, $5, 'unread', $6, $7)
    ON CONFLICT (user_id, dedupe_key) DO NOTHING
    RETURNING {_COLUMNS}
    """
)
# PostgreSQL: any number in one statement.
_PG_INSERT_MANY = Sql(
    f"""
    INSERT INTO notifications (id, user_id, event_id, kind, message, status, dedupe_key,
                               inserted_at)
    SELECT v.id, v.user_id, v.event_id, v.kind, v.message, 'unread', v.dedupe_key, $7
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
         AS v(id, user_id, event_id, kind, message, dedupe_key)
    ON CONFLICT (user_id, dedupe_key) DO NOTHING
    RETURNING {_COLUMNS}
    """
)
_LIST = Sql(
    f"""
    SELECT {_COLUMNS} FROM notifications
    WHERE user_id = $1 AND (CAST($2 AS TEXT) IS NULL OR status = $2)
    ORDER BY CASE WHEN status = 'unread' THEN 0 ELSE 1 END, inserted_at DESC, id
    """
)
_MARK_READ = Sql(
    f"""
    UPDATE notifications SET status = 'read' WHERE id = $1 AND user_id = $2
    RETURNING {_COLUMNS}
    """
)
_EXISTS = Sql("SELECT 1 FROM notifications WHERE id = $1")


def _notification_from_row(row: Row) -> Notification:
    return Notification(
        id=row["id"],
        user_id=row["user_id"],
        event_id=row["event_id"],
        kind=row["kind"],
        message=row["message"],
        status=NotificationStatus(row["status"]),
        inserted_at=row["inserted_at"],
    )


async def insert_notifications(
    conn: Connection, new: Sequence[NewNotification], *, now: datetime, webhook: bool = False
) -> list[Notification]:
    """Store the notifications, skipping any whose dedupe_key its user already has; returns
    only the ones stored now, in the order given. ``webhook``: also queue each one stored
    for the operator's webhook, in the same transaction."""
    if not new:
        return []
    rows = [
        (new_id(), item.user_id, item.event_id, item.kind, item.message, item.dedupe_key)
        for item in new
    ]
    if isinstance(conn, SqliteConnection):
        stored = await conn.run(_insert_sqlite, rows, now)
    else:
        assert isinstance(conn, PostgresConnection)
        stored = await conn.fetch(_PG_INSERT_MANY, *zip(*rows, strict=True), now)
    order = {row[0]: index for index, row in enumerate(rows)}
    notifications = sorted(
        (_notification_from_row(row) for row in stored), key=lambda item: order[item.id]
    )
    if webhook:
        await outbox.queue(conn, notifications, now=now)
    return notifications


def _insert_sqlite(
    conn: sqlite3.Connection, rows: list[tuple[str | None, ...]], now: datetime
) -> list[Row]:
    stored: list[Row] = []
    for row in rows:
        inserted = conn.execute(_INSERT.sqlite, (*row, now)).fetchone()
        if inserted is not None:
            stored.append(inserted)
    return stored


async def notify_event_holders(
    conn: Connection,
    *,
    event_id: EventId,
    kind: str,
    message: str,
    dedupe_key: str | None,
    now: datetime,
    outlives_event: bool = False,
    webhook: bool = False,
) -> list[Notification]:
    """One notification for every holder of an assigned ticket for the event. With a
    ``dedupe_key`` it is stored at most once per holder, however often this runs.
    ``outlives_event``: not linked to the event, so deleting it keeps the notice.
    ``webhook``: queued for the operator's webhook too."""
    linked_event = None if outlives_event else event_id
    new = [
        NewNotification(
            user_id=user_id,
            event_id=linked_event,
            kind=kind,
            message=message,
            dedupe_key=dedupe_key,
        )
        for user_id in await holder_ids(conn, event_id)
    ]
    return await insert_notifications(conn, new, now=now, webhook=webhook)


async def list_notifications(
    conn: Connection, user_id: UserId, *, status: NotificationStatus | None = None
) -> list[Notification]:
    """The user's notifications, unread first, newest first within each group."""
    rows = await conn.fetch(_LIST, user_id, None if status is None else status.value)
    return [_notification_from_row(row) for row in rows]


async def mark_notification_read(
    conn: Connection, *, notification_id: NotificationId, user_id: UserId
) -> Notification:
    """Mark one of the user's notifications read (idempotent). Another user's: Forbidden."""
    row = await conn.fetchrow(_MARK_READ, notification_id, user_id)
    if row is not None:
        return _notification_from_row(row)
    if await conn.fetchrow(_EXISTS, notification_id) is None:
        raise NotFound("notification")
    raise Forbidden()
