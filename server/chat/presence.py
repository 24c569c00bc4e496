"""Presence in a room: keyed by user id (several tabs are several metas of one key), with
``{username, online_at}``. Entries go when the channel ends, however it ends (phxpy's
channel-exit hook)."""

from __future__ import annotations

from datetime import datetime

from phxpy import Channel
from server.domain import UserId
from server.render import timestamp


async def track(channel: Channel, user_id: UserId, username: str, now: datetime) -> None:
    """Track the channel's user, then push the room's current state to this client
    (phoenix.js's ``Presence`` starts from ``presence_state`` and applies diffs after it)."""
    presence = channel.endpoint.presence
    await presence.track(channel, user_id, {"username": username, "online_at": timestamp(now)})
    await channel.push("presence_state", presence.state_payload(channel.topic))
