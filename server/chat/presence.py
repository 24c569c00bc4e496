"""Presence in a room: keyed by user id (several tabs are several metas of one key), with
``{username, online_at}``. Entries go when the channel ends, however it ends (phxpy's
channel-exit hook).

**List mode** (a room of up to PRESENCE_LIST_LIMIT members online): as in Phoenix, a joiner
gets the whole list (``presence_state``) and everyone gets every change (``presence_diff``).
That costs each member the whole room at join and a frame per change, O(N²) bytes for a room
filling up: fine for hundreds, heavy for thousands.

**Count mode** (above the limit): a joiner's ``presence_state`` holds only its own entries
(its tabs as they are then), no ``presence_diff`` goes out, and ``presence_count
{"online": n}`` tells the room how many are in: at once after a quiet spell, then at most
once per ``presence_count_interval`` while people come and go. So phoenix.js's ``Presence``
lists the member alone and its ``onSync`` fires at join; the app shows the count.
Entering count mode, every member is sent ``presence_mode {"mode": "count"}`` and its own
entries as a new ``presence_state`` (its list shrinks to itself); when the room has shrunk to
half the limit it returns to list mode: ``presence_mode {"mode": "list"}`` and the whole list
as ``presence_state``, then diffs as before. The join reply says which mode the room is in.

**Several nodes** (cluster mode): every node's presence state holds the whole cluster's
entries (phxpy replicates them), so the count, the join reply's ``online`` and the mode are
the cluster's; each node runs this for its own members, from the changes of every node, and
tells only them (``Presence.broadcast``), so a member hears one count, not one per node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from phxpy import Channel, Endpoint
from phxpy.presence_state import Diff
from server.domain import UserId
from server.render import timestamp

log = logging.getLogger(__name__)

LIST_MODE = "list"
COUNT_MODE = "count"
PRESENCE_STATE = "presence_state"
PRESENCE_MODE = "presence_mode"
PRESENCE_COUNT = "presence_count"


class RoomPresence:
    """One per node: which rooms are in count mode, and their count broadcasts."""

    def __init__(self, endpoint: Endpoint, *, list_limit: int, count_interval: float) -> None:
        self._endpoint = endpoint
        self.list_limit = list_limit
        self.count_interval = count_interval
        self._counted: set[str] = set()
        """Topics in count mode."""
        self._counting: dict[str, asyncio.Task[None]] = {}
        self._count_stale: set[str] = set()
        endpoint.presence.on_diff = self._on_diff

    def mode(self, topic: str) -> str:
        return COUNT_MODE if topic in self._counted else LIST_MODE

    async def track(self, channel: Channel, user_id: UserId, username: str, now: datetime) -> None:
        """Track the channel's user, then push this client its starting point: the room's
        list, or in count mode its own entries (phoenix.js's ``Presence`` starts from
        ``presence_state`` and applies diffs after it)."""
        presence = self._endpoint.presence
        meta = {"username": username, "online_at": timestamp(now)}
        await presence.track(channel, user_id, meta)
        if channel.topic in self._counted:
            await channel.push(PRESENCE_STATE, self.own_entries(channel.topic, user_id))
        else:
            await channel.push(PRESENCE_STATE, presence.state_payload(channel.topic))

    def own_entries(self, topic: str, user_id: UserId) -> dict[str, Any]:
        metas = self._endpoint.presence.get(topic, user_id)
        return {user_id: {"metas": metas}} if metas else {}

    # ------------------------------------------------------------------ the modes

    async def _on_diff(self, topic: str, diff: Diff) -> bool:
        """Each coalesced change of a room: True to send it as a diff (list mode)."""
        presence = self._endpoint.presence
        online = presence.count(topic)
        if topic in self._counted:
            if online > self.list_limit // 2:
                self._count_changed(topic)
                return False
            # Small again: everyone gets the whole list, which holds this change too.
            self._counted.discard(topic)
            await presence.broadcast(topic, PRESENCE_MODE, {"mode": LIST_MODE})
            await presence.broadcast(topic, PRESENCE_STATE, presence.state_payload(topic))
            return False
        if online <= self.list_limit:
            return True
        # Too big for everyone to hear of everyone: each member's channel replaces its list by
        # its own entries (EventChannel.handle_out), then counts follow.
        self._counted.add(topic)
        await presence.broadcast(topic, PRESENCE_MODE, {"mode": COUNT_MODE})
        self._count_changed(topic)
        return False

    def _count_changed(self, topic: str) -> None:
        if topic in self._counting:
            self._count_stale.add(topic)
            return
        task = asyncio.get_running_loop().create_task(self._send_counts(topic))
        self._counting[topic] = task

    async def _send_counts(self, topic: str) -> None:
        """The count now, then again after each interval in which it changed."""
        try:
            while topic in self._counted:
                self._count_stale.discard(topic)
                presence = self._endpoint.presence
                await presence.broadcast(topic, PRESENCE_COUNT, {"online": presence.count(topic)})
                await self._endpoint.clock.sleep(self.count_interval)
                if topic not in self._count_stale:
                    return
        except Exception:
            log.exception("presence_count on %r failed", topic)
        finally:
            self._count_stale.discard(topic)
            if self._counting.get(topic) is asyncio.current_task():
                del self._counting[topic]

    async def close(self) -> None:
        tasks = list(self._counting.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def online_count(channel: Channel, user_id: UserId) -> int:
    """Members online in the channel's room on this node, ``user_id`` counted as one of them
    (the joiner is tracked only after the join's reply)."""
    presence = channel.endpoint.presence
    present = presence.count(channel.topic)
    return present + (0 if presence.get(channel.topic, user_id) else 1)


def room_online_count(endpoint: Endpoint, topic: str) -> int:
    return endpoint.presence.count(topic)


def online_among(endpoint: Endpoint, topic: str, user_ids: Iterable[UserId]) -> set[UserId]:
    """Which of ``user_ids`` are online in the room now."""
    presence = endpoint.presence
    return {user_id for user_id in user_ids if presence.get(topic, user_id)}
