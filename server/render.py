"""JSON shapes of the service's records, the same over REST and over the socket (the
OpenAPI components describe them).

Each function picks its fields explicitly, so nothing is published by accident; a user's
password hash never reaches this module at all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from server.domain import (
    ChatMessage,
    ChatRoom,
    Event,
    ModerationLogEntry,
    Notification,
    RoomModeration,
    RoomStatus,
    Ticket,
    User,
)

JSON = dict[str, Any]


def timestamp(moment: datetime | None) -> str | None:
    """ISO 8601 without a fraction or offset (naive UTC), e.g. ``2025-01-01T19:00:07``."""
    return None if moment is None else moment.isoformat(timespec="seconds")


def end_timestamp(moment: datetime | None) -> str | None:
    """:func:`timestamp` of when something ends (a mute, a wait), rounded up to the second:
    never earlier than the real end, so a client that waits until then is let through."""
    if moment is None or not moment.microsecond:
        return timestamp(moment)
    return timestamp(moment.replace(microsecond=0) + timedelta(seconds=1))


def seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds from ``now`` until ``moment``, rounded up (at least 1): a ``retry_after``
    a client may wait and then be let through."""
    return max(1, math.ceil((moment - now).total_seconds()))


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
    """A message. Content goes out exactly as stored: data, never markup the server
    interprets. A message an organiser hid keeps its place (its seq) with empty content and
    ``hidden`` true; an organiser's announcement has ``author_role`` "organiser" and no
    ``user_id``."""
    return {
        "id": value.id,
        "chat_room_id": value.chat_room_id,
        "user_id": value.user_id,
        "username": value.username,
        "content": "" if value.hidden else value.content,
        "content_type": value.content_type,
        "seq": value.seq,
        "inserted_at": timestamp(value.inserted_at),
        "author_role": value.author_role.value,
        "hidden": value.hidden,
    }


_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def encode(value: Any) -> bytes:
    """Compact UTF-8 JSON, keys sorted."""
    return _encoder.encode(value).encode("utf-8", "surrogateescape")


def messages_within(messages: Sequence[ChatMessage], budget: int) -> tuple[list[bytes], bool]:
    """The messages (oldest first) encoded, as many of the newest as fit in ``budget`` bytes
    (at least one); True when older ones were left out. A page of history then never grows
    past what a client can take in one frame, whatever the messages hold: the client pages
    back from the oldest it got."""
    encoded: list[bytes] = []
    size = 0
    for item in reversed(messages):
        data = encode(message(item))
        size += len(data) + 1
        if encoded and size > budget:
            break
        encoded.append(data)
    encoded.reverse()
    return encoded, len(encoded) < len(messages)


def live_room(value: ChatRoom) -> JSON:
    """The room in a chat join reply: ``last_seq`` lets a client see what it missed."""
    return {"id": value.id, "status": value.status.value, "last_seq": value.last_seq}


def room_status(status: RoomStatus | str) -> JSON:
    return {"status": status.value if isinstance(status, RoomStatus) else status}


def moderation(value: RoomModeration, now: datetime) -> JSON:
    """A room's moderation as it stands at ``now`` (mutes that ran out are gone)."""
    return {
        "event_id": value.event_id,
        "chat_room_id": value.room_id,
        "version": value.version,
        "slow_mode_seconds": value.slow_mode_seconds,
        "mutes": [
            {
                "user_id": r.user_id,
                "username": r.username,
                "until": end_timestamp(r.ends_at),
                "reason": r.reason,
                "actor": r.actor,
                "since": timestamp(r.since),
            }
            for r in value.mutes(now)
        ],
        "removals": [
            {
                "user_id": r.user_id,
                "username": r.username,
                "reason": r.reason,
                "actor": r.actor,
                "since": timestamp(r.since),
            }
            for r in value.removals()
        ],
        "hidden_messages": [
            {
                "message_id": h.message_id,
                "seq": h.seq,
                "reason": h.reason,
                "actor": h.actor,
                "hidden_at": timestamp(h.hidden_at),
            }
            for h in value.hidden
        ],
    }


def moderation_log_entry(value: ModerationLogEntry) -> JSON:
    return {
        "version": value.version,
        "action": value.action,
        "actor": value.actor,
        "user_id": value.user_id,
        "message_id": value.message_id,
        "details": dict(value.details),
        "inserted_at": timestamp(value.inserted_at),
    }
