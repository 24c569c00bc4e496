"""The webhook outbox: notifications waiting to be delivered to the operator's webhook.

A row is queued in the transaction that stores its notification (so there is no
notification without its row, nor the other way round), taken by a delivery attempt with a
lease (its ``next_attempt_at`` moves past the attempt's timeout, so an attempt cut short by a
crash is made again once the lease ends, and two nodes never take one row at once), then
deleted once the receiver acknowledged it, or given its next attempt's time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from server import render
from server.db.database import Connection, PostgresConnection
from server.db.sql import Sql, as_datetime
from server.domain import Notification, NotificationId

_INSERT = Sql(
    """
    INSERT INTO webhook_outbox (notification_id, body, attempts, next_attempt_at, inserted_at)
    VALUES ($1, $2, 0, $3, $3)
    """
)
_PG_INSERT_MANY = Sql(
    """
    INSERT INTO webhook_outbox (notification_id, body, attempts, next_attempt_at, inserted_at)
    SELECT v.id, v.body, 0, $3, $3 FROM unnest($1::text[], $2::text[]) AS v(id, body)
    """
)
# The due rows, oldest due first, each leased until $2 and its attempt counted. The outer
# condition is checked again on the row itself: of two nodes taking the same row, the second
# (PostgreSQL re-reads it after the first one's commit) finds it leased and skips it.
_TAKE = Sql(
    """
    UPDATE webhook_outbox SET next_attempt_at = $2, attempts = attempts + 1
    WHERE notification_id IN (
        SELECT notification_id FROM webhook_outbox WHERE next_attempt_at <= $1
        ORDER BY next_attempt_at, notification_id LIMIT $3)
      AND next_attempt_at <= $1
    RETURNING notification_id, body, attempts
    """
)
_DELIVERED = Sql("DELETE FROM webhook_outbox WHERE notification_id = $1")
_RETRY = Sql(
    """
    UPDATE webhook_outbox SET next_attempt_at = $2, last_error = $3
    WHERE notification_id = $1
    """
)
_NEXT_DUE = Sql("SELECT min(next_attempt_at) FROM webhook_outbox")
_WAITING = Sql("SELECT count(*) FROM webhook_outbox")


@dataclass(frozen=True, slots=True)
class Delivery:
    notification_id: NotificationId
    body: bytes
    attempt: int
    """1 for the first attempt."""


def webhook_body(notification: Notification) -> str:
    """What the receiver gets: the notification, with whom it is for."""
    return json.dumps(
        {
            "type": "notification",
            "user_id": notification.user_id,
            **render.notification(notification),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


async def queue(conn: Connection, notifications: Sequence[Notification], *, now: datetime) -> None:
    """Queue the notifications for the webhook, in the caller's transaction."""
    if not notifications:
        return
    ids = [item.id for item in notifications]
    bodies = [webhook_body(item) for item in notifications]
    if isinstance(conn, PostgresConnection):
        await conn.execute(_PG_INSERT_MANY, ids, bodies, now)
    else:
        await conn.executemany(_INSERT, [(i, b, now) for i, b in zip(ids, bodies, strict=True)])


async def take_due(
    conn: Connection, *, now: datetime, lease_until: datetime, limit: int
) -> list[Delivery]:
    rows = await conn.fetch(_TAKE, now, lease_until, limit)
    return [
        Delivery(row["notification_id"], row["body"].encode("utf-8"), row["attempts"])
        for row in rows
    ]


async def delivered(conn: Connection, notification_id: NotificationId) -> None:
    await conn.execute(_DELIVERED, notification_id)


async def retry_at(
    conn: Connection, notification_id: NotificationId, *, at: datetime, error: str
) -> None:
    await conn.execute(_RETRY, notification_id, at, error[:500])


async def next_due(conn: Connection) -> datetime | None:
    return as_datetime(await conn.fetchval(_NEXT_DUE))


async def waiting(conn: Connection) -> int:
    return int(await conn.fetchval(_WAITING))
