"""The JSON shapes the chat sends (the REST API renders the same records the same way)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.domain import ChatMessage, ChatRoom, Notification, RoomStatus

JSON = dict[str, Any]


def timestamp(moment: datetime | None) -> str | None:
    """ISO 8601 without a fraction or offset (naive UTC), as the REST API writes times."""
    return None if moment is None else moment.isoformat(timespec="seconds")


def message(value: ChatMessage) -> JSON:
    # Content goes out exactly as stored: data, never markup the server interprets.
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


def room(value: ChatRoom) -> JSON:
    return {"id": value.id, "status": value.status.value, "last_seq": value.last_seq}


def room_status(status: RoomStatus | str) -> JSON:
    return {"status": status.value if isinstance(status, RoomStatus) else status}


def notification(value: Notification) -> JSON:
    return {
        "id": value.id,
        "event_id": value.event_id,
        "kind": value.kind,
        "message": value.message,
        "status": value.status.value,
        "inserted_at": timestamp(value.inserted_at),
    }
