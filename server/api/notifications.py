"""A user's own notifications."""

from __future__ import annotations

from aiohttp import web

from server import render
from server.api.render import data_response
from server.api.validation import path_id
from server.auth.guard import signed_in_user
from server.db import notifications as notification_store
from server.domain import INVALID, Invalid, NotificationStatus
from server.keys import DB


async def list_notifications(request: web.Request) -> web.Response:
    caller = signed_in_user(request)
    raw_status = request.query.get("status")
    status = None
    if raw_status:
        try:
            status = NotificationStatus(raw_status)
        except ValueError:
            raise Invalid.field("status", INVALID) from None
    async with request.app[DB].read() as conn:
        notifications = await notification_store.list_notifications(
            conn, caller.user_id, status=status
        )
    return data_response([render.notification(item) for item in notifications])


async def mark_read(request: web.Request) -> web.Response:
    caller = signed_in_user(request)
    notification_id = path_id(request, "id")
    async with request.app[DB].write() as conn:
        notification = await notification_store.mark_notification_read(
            conn, notification_id=notification_id, user_id=caller.user_id
        )
    return data_response(render.notification(notification))
