"""Presence in a room: keyed by user id (several tabs are several metas of one key), with
``{username, online_at}``. Entries go when the channel ends, however it ends (phxpy's
channel-exit hook)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from phxpy import Channel, Endpoint
from server.domain import UserId
from server.render import timestamp


async def track(channel: Channel, user_id: UserId, username: str, now: datetime) -> None:
    """Track the channel's user, then push the room's current state to this client
    (phoenix.js's ``Presence`` starts from ``presence_state`` and applies diffs after it)."""
    presence = channel.endpoint.presence
    await presence.track(channel, user_id, {"username": username, "online_at": timestamp(now)})
    await channel.push("presence_state", presence.state_payload(channel.topic))


def online_count(channel: Channel, user_id: UserId) -> int:
    """Members online in the channel's room on this node, ``user_id`` counted as one of them
    (the joiner is tracked only after the join's reply)."""
    presence = channel.endpoint.presence
    present = presence.state.list(channel.topic)
    return len(present) + (0 if user_id in present else 1)


def room_online_count(endpoint: Endpoint, topic: str) -> int:
    return len(endpoint.presence.state.list(topic))


def online_among(endpoint: Endpoint, topic: str, user_ids: Iterable[UserId]) -> set[UserId]:
    """Which of ``user_ids`` are online in the room now."""
    state = endpoint.presence.state
    return {user_id for user_id in user_ids if state.get(topic, user_id)}
