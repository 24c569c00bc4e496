"""JSON shapes of the API's records (the OpenAPI components describe the same shapes).

Each function picks its fields explicitly, so nothing is published by accident; a user's
password hash never reaches this module at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from server.domain import ChatMessage, ChatRoom, Event, Notification, Ticket, User

JSON = dict[str, Any]


def data_response(payload: Any, *, status: int = 200, **extra: Any) -> web.Response:
    """Phoenix's success envelope: ``{"data": ...}``."""
    return web.json_response({"data": payload, **extra}, status=status)


def timestamp(moment: datetime | None) -> str | None:
    """ISO 8601 without a fraction or offset (naive UTC), e.g. ``2025-01-01T19:00:07``."""
    return None if moment is None else moment.isoformat(timespec="seconds")


def user(value: User) -> JSON:
    return {"id": value.id, "username": value.username, "email": value.email}


def chat_room(value: ChatRoom) -> JSON:
    return {"id": value.id, "event_id": value.event_id, "status": value.status.value}


def event(value: Event) -> JSON:
    return {
        "id": value.id,
        "name": value.name,
        "description": value.description,
        "location": value.location,
        "start_time": timestamp(value.start_time),
        "end_time": timestamp(value.end_time),
        "chat_room": chat_room(value.chat_room),
    }


def ticket(value: Ticket) -> JSON:
    return {
        "id": value.id,
        "ticket_number": value.ticket_number,
        "event_id": value.event_id,
        "user_id": value.user_id,
        "used_at": timestamp(value.used_at),
        "user": None if value.holder is None else user(value.holder),
    }


def notification(value: Notification) -> JSON:
    return {
        "id": value.id,
        "event_id": value.event_id,
        "kind": value.kind,
        "message": value.message,
        "status": value.status.value,
        "inserted_at": timestamp(value.inserted_at),
    }


def message(value: ChatMessage) -> JSON:
    return {
        "id": value.id,
        "chat_room_id": value.chat_room_id,
        "user_id": value.user_id,
        "username": value.username,
        "content": value.content,
        "content_type": value.content_type,
        "seq": value.seq,
        "inserted_at": timestamp(value.inserted_at),
    }
