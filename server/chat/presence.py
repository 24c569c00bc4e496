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

**Order.** A member always hears ``presence_mode`` before the ``presence_state`` and
``presence_count`` it describes. So what depends on the mode is not broadcast but pushed, by
this class, to each member it tracks on this node (:meth:`RoomPresence.track` adds them, their
channel's end removes them), in one go with no await between a member's frames: at a switch,
each member gets ``presence_mode`` and then its ``presence_state``, before any later count or
diff; counts go to the tracked members only. A joiner is tracked in ``after_join``, when it is
sent its starting point: ``presence_mode`` first whenever the room counts (or no longer is in
the mode its join reply said), then its ``presence_state``; until then it hears no count and no
switch, only diffs, which phoenix.js's ``Presence`` holds until the state.

**Several nodes** (cluster mode): every node's presence state holds the whole cluster's
entries (phxpy replicates them), so the count, the join reply's ``online`` and the mode are
the cluster's; each node runs this for its own members, from the changes of every node, and
tells only them, so a member hears one count, not one per node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Hashable, Iterable
from datetime import datetime
from typing import Any

from phxpy import Channel, Endpoint, RawJSON
from phxpy.presence_state import Diff
from phxpy.serializer import json_dumps
from server.domain import UserId
from server.render import timestamp

log = logging.getLogger(__name__)

LIST_MODE = "list"
COUNT_MODE = "count"
PRESENCE_STATE = "presence_state"
PRESENCE_MODE = "presence_mode"
PRESENCE_COUNT = "presence_count"


class RoomPresence:
    """One per node: which rooms are in count mode, the members each room's mode is told to,
    and their counts."""

    def __init__(self, endpoint: Endpoint, *, list_limit: int, count_interval: float) -> None:
        self._endpoint = endpoint
        self.list_limit = list_limit
        self.count_interval = count_interval
        self._counted: set[str] = set()
        """Topics in count mode."""
        self._counting: dict[str, asyncio.Task[None]] = {}
        self._count_stale: set[str] = set()
        self._members: dict[str, dict[Channel, UserId]] = {}
        """Per topic, this node's tracked channels and their users: who hears the mode."""
        endpoint.presence.on_diff = self._on_diff
        endpoint.on_channel_exit(self._channel_exited)

    def mode(self, topic: str) -> str:
        return COUNT_MODE if topic in self._counted else LIST_MODE

    async def track(
        self, channel: Channel, user_id: UserId, username: str, now: datetime, *, told: str
    ) -> None:
        """Track the channel's user, then push this client its starting point: the room's
        list, or in count mode ``presence_mode`` and its own entries (phoenix.js's
        ``Presence`` starts from ``presence_state`` and applies diffs after it). ``told``:
        the mode its join reply said; the client hears ``presence_mode`` if that changed."""
        presence = self._endpoint.presence
        meta = {"username": username, "online_at": timestamp(now)}
        await presence.track(channel, user_id, meta)
        # From here to the registration nothing suspends (a push queues its frame and never
        # waits): no switch or count can come between this member's starting point and what
        # follows it.
        topic = channel.topic
        mode = self.mode(topic)
        if mode != told or mode == COUNT_MODE:
            await channel.push(PRESENCE_MODE, {"mode": mode})
        await channel.push(PRESENCE_STATE, self._state_for(topic, user_id, mode))
        self._members.setdefault(topic, {})[channel] = user_id

    def _state_for(self, topic: str, user_id: UserId, mode: str) -> Any:
        """A member's ``presence_state`` in ``mode``: the whole list, or its own entries."""
        if mode == COUNT_MODE:
            return self.own_entries(topic, user_id)
        return self._endpoint.presence.state_payload(topic)

    def _channel_exited(self, owner: Hashable) -> None:
        if not isinstance(owner, Channel):
            return
        members = self._members.get(owner.topic)
        if members is not None and members.pop(owner, None) is not None and not members:
            del self._members[owner.topic]

    async def _tell_mode(self, topic: str, mode: str) -> None:
        """The room switched: each member hears the mode and then its new starting point, all
        of them before anything else is sent (no await suspends in between)."""
        members = self._members.get(topic)
        if not members:
            return
        told = RawJSON(json_dumps({"mode": mode}))
        listed = self._endpoint.presence.state_payload(topic) if mode == LIST_MODE else None
        for channel, user_id in list(members.items()):
            await channel.push(PRESENCE_MODE, told)
            own = self.own_entries(topic, user_id) if listed is None else listed
            await channel.push(PRESENCE_STATE, own)

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
            await self._tell_mode(topic, LIST_MODE)
            return False
        if online <= self.list_limit:
            return True
        # Too big for everyone to hear of everyone: each member's list shrinks to its own
        # entries, then counts follow.
        self._counted.add(topic)
        await self._tell_mode(topic, COUNT_MODE)
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
                online = RawJSON(json_dumps({"online": self._endpoint.presence.count(topic)}))
                # To the members told of count mode (a joiner hears counts once tracked).
                for channel in list(self._members.get(topic, ())):
                    await channel.push(PRESENCE_COUNT, online)
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
