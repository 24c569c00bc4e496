"""Notifications stored for users (event changes, the chat opening)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.common import AnyRow, insert_skipping_conflicts, new_id
from server.db.schema import notifications
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

NOTIFICATION_COLUMNS = (
    notifications.c.id,
    notifications.c.user_id,
    notifications.c.event_id,
    notifications.c.kind,
    notifications.c.message,
    notifications.c.status,
    notifications.c.inserted_at,
)


def _notification_from_row(row: AnyRow) -> Notification:
    return Notification(
        id=row.id,
        user_id=row.user_id,
        event_id=row.event_id,
        kind=row.kind,
        message=row.message,
        status=NotificationStatus(row.status),
        inserted_at=row.inserted_at,
    )


async def insert_notifications(
    conn: AsyncConnection, new: Sequence[NewNotification], *, now: datetime
) -> list[Notification]:
    """Store the notifications, skipping any whose dedupe_key its user already has; returns
    only the ones stored now (so whoever stored them is the one to push them)."""
    if not new:
        return []
    rows = [
        {
            "id": new_id(),
            "user_id": item.user_id,
            "event_id": item.event_id,
            "kind": item.kind,
            "message": item.message,
            "status": NotificationStatus.UNREAD.value,
            "dedupe_key": item.dedupe_key,
            "inserted_at": now,
        }
        for item in new
    ]
    statement = insert_skipping_conflicts(
        conn, notifications, rows, ["user_id", "dedupe_key"]
    ).returning(*NOTIFICATION_COLUMNS)
    stored = [_notification_from_row(row) for row in await conn.execute(statement)]
    order = {row["id"]: index for index, row in enumerate(rows)}
    return sorted(stored, key=lambda item: order[item.id])


async def notify_event_holders(
    conn: AsyncConnection,
    *,
    event_id: EventId,
    kind: str,
    message: str,
    dedupe_key: str | None,
    now: datetime,
    outlives_event: bool = False,
) -> list[Notification]:
    """One notification for every holder of an assigned ticket for the event. With a
    ``dedupe_key`` it is stored at most once per holder, however often this runs.
    ``outlives_event``: not linked to the event, so deleting it keeps the notice."""
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
    return await insert_notifications(conn, new, now=now)


async def list_notifications(
    conn: AsyncConnection, user_id: UserId, *, status: NotificationStatus | None = None
) -> list[Notification]:
    """The user's notifications, unread first, newest first within each group."""
    unread_first = case((notifications.c.status == NotificationStatus.UNREAD.value, 0), else_=1)
    query = (
        select(*NOTIFICATION_COLUMNS)
        .where(notifications.c.user_id == user_id)
        .order_by(unread_first, notifications.c.inserted_at.desc(), notifications.c.id)
    )
    if status is not None:
        query = query.where(notifications.c.status == status.value)
    return [_notification_from_row(row) for row in await conn.execute(query)]


async def mark_notification_read(
    conn: AsyncConnection, *, notification_id: NotificationId, user_id: UserId
) -> Notification:
    """Mark one of the user's notifications read (idempotent). Another user's: Forbidden."""
    statement = (
        update(notifications)
        .where(notifications.c.id == notification_id, notifications.c.user_id == user_id)
        .values(status=NotificationStatus.READ.value)
        .returning(*NOTIFICATION_COLUMNS)
    )
    row = (await conn.execute(statement)).first()
    if row is not None:
        return _notification_from_row(row)
    exists = select(notifications.c.id).where(notifications.c.id == notification_id)
    if (await conn.execute(exists)).first() is None:
        raise NotFound("notification")
    raise Forbidden()
