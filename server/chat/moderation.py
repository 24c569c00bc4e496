"""The organisers' moderation, enforced from memory so that a post costs no extra query.

Each node keeps, per room, the rules it enforces (:class:`RoomRules`): who is muted until
when, who was removed, the slow mode's interval, the seqs of hidden messages. They are loaded
from the database on the room's first join on this node, and replaced whenever an
organiser's action commits (the REST call hands the room's new state over, see
``ChatRealtime.room_moderated``). The database stays the authority: every stored state has a
version (``chat_rooms.moderation_version``), and a node only ever replaces its copy by a
newer one, so a load racing with an action cannot install the older state. With several
nodes, a node that hears of a version it does not have reloads the room (``reload``), and
``on_change`` tells its own members what the newer state changed
(``server.chat.moderation_sync``).

Slow mode is per member per room: the time of each member's last accepted post, kept in
memory like the other rate limits (several nodes each hold their own).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from server.clock import Clock
from server.db import moderation as moderation_store
from server.db.database import Database
from server.domain import MUTED, REMOVED, RoomId, RoomModeration, UserId
from server.render import end_timestamp, seconds_until

# Refusal reasons.
MUTED_REASON = "muted"
REMOVED_REASON = "removed"
SLOW_MODE_REASON = "slow mode"

MAX_ROOMS = 10_000
"""Rooms whose rules a node keeps; the least recently joined beyond it are reloaded when
needed again."""
_PRUNE_AT = 10_000


@dataclass(frozen=True, slots=True)
class RoomRules:
    """What the chat enforces in one room, as of ``version``."""

    room_id: RoomId
    version: int
    slow_mode_seconds: int = 0
    muted: Mapping[UserId, datetime] = field(default_factory=dict)
    """Member -> when the mute ends (expired ones may linger; compare with now)."""
    removed: frozenset[UserId] = frozenset()
    hidden_seqs: tuple[int, ...] = ()

    @classmethod
    def of(cls, state: RoomModeration) -> RoomRules:
        return cls(
            room_id=state.room_id,
            version=state.version,
            slow_mode_seconds=state.slow_mode_seconds,
            muted={
                r.user_id: r.ends_at
                for r in state.restrictions
                if r.kind == MUTED and r.ends_at is not None
            },
            removed=frozenset(r.user_id for r in state.restrictions if r.kind == REMOVED),
            hidden_seqs=tuple(sorted(h.seq for h in state.hidden)),
        )

    def muted_until(self, user_id: UserId, now: datetime) -> datetime | None:
        until = self.muted.get(user_id)
        return until if until is not None and until > now else None


class Moderation:
    """One per node: the rooms' rules, and the slow mode's memory of who posted when."""

    def __init__(self, clock: Clock, *, max_rooms: int = MAX_ROOMS) -> None:
        self._clock = clock
        self._max_rooms = max_rooms
        self._rooms: collections.OrderedDict[RoomId, RoomRules] = collections.OrderedDict()
        self._loading: dict[RoomId, asyncio.Future[RoomRules]] = {}
        self._last_post: dict[tuple[RoomId, UserId], datetime] = {}
        self.on_change: Callable[[RoomRules, RoomRules, RoomModeration], None] | None = None
        """Called with ``(before, after, state)`` when a newer state replaces a room's
        rules this node had (not at a room's first load)."""

    # ----------------------------------------------------------------- the rules

    async def rules(self, db: Database, room_id: RoomId) -> RoomRules:
        """The room's rules, loaded on first use (one load however many join at once)."""
        rules = self._rooms.get(room_id)
        if rules is not None:
            self._rooms.move_to_end(room_id)
            return rules
        loading = self._loading.get(room_id)
        if loading is None:
            loading = asyncio.get_running_loop().create_future()
            self._loading[room_id] = loading
            try:
                async with db.read() as conn:
                    state = await moderation_store.load_room_moderation(conn, room_id)
            except BaseException as error:
                loading.set_exception(error)
                loading.exception()  # retrieved: only waiters that exist see it
                raise
            finally:
                del self._loading[room_id]
            self.offer(state)
            loading.set_result(self._rooms[room_id])
        return await asyncio.shield(loading)

    def cached(self, room_id: RoomId) -> RoomRules | None:
        return self._rooms.get(room_id)

    def offer(self, state: RoomModeration) -> None:
        """Install the room's state unless this node already has a newer one."""
        current = self._rooms.get(state.room_id)
        if current is not None and current.version > state.version:
            return
        rules = self._rooms[state.room_id] = RoomRules.of(state)
        self._rooms.move_to_end(state.room_id)
        while len(self._rooms) > self._max_rooms:
            self._rooms.popitem(last=False)
        if current is not None and current.version < state.version and self.on_change:
            self.on_change(current, rules, state)

    async def confirm(self, db: Database, room_id: RoomId) -> RoomRules:
        """The room's rules as the database has them now, installed unless this node has a
        newer copy: for a refusal that a change this node has not heard of yet may have
        lifted (a removed member's join, after a reinstatement through another node)."""
        async with db.read() as conn:
            state = await moderation_store.load_room_moderation(conn, room_id)
        self.offer(state)
        return self._rooms.get(room_id) or RoomRules.of(state)

    async def reload(self, db: Database, room_id: RoomId, version: int) -> None:
        """Another node changed the room (to ``version``): reload it if this node has it and
        its copy is older."""
        current = self._rooms.get(room_id)
        if current is None or current.version >= version:
            return
        async with db.read() as conn:
            self.offer(await moderation_store.load_room_moderation(conn, room_id))

    # ----------------------------------------------------------------- enforcing

    def refuse_post(self, rules: RoomRules, user_id: UserId) -> dict[str, Any] | None:
        """Why the member may not post now, or None; a post let through counts for the
        slow mode."""
        now = self._clock.now()
        if user_id in rules.removed:
            return {"reason": REMOVED_REASON}
        until = rules.muted_until(user_id, now)
        if until is not None:
            return _wait(MUTED_REASON, until, now)
        interval = rules.slow_mode_seconds
        if interval:
            key = (rules.room_id, user_id)
            last = self._last_post.get(key)
            if last is not None:
                allowed = last + timedelta(seconds=interval)
                if allowed > now:
                    return _wait(SLOW_MODE_REASON, allowed, now)
            if len(self._last_post) >= _PRUNE_AT:
                self._prune(now)
            self._last_post[key] = now
        return None

    def _prune(self, now: datetime) -> None:
        """Forget posts older than any slow mode could still count."""
        oldest = now - timedelta(
            seconds=max((r.slow_mode_seconds for r in self._rooms.values()), default=0)
        )
        self._last_post = {k: t for k, t in self._last_post.items() if t > oldest}


def _wait(reason: str, allowed: datetime, now: datetime) -> dict[str, Any]:
    """A post refused until ``allowed`` (a mute's end, slow mode's next turn), alike for both:
    ``until`` and ``retry_after`` rounded up, so a client that waits for either is let
    through."""
    return {
        "reason": reason,
        "until": end_timestamp(allowed),
        "retry_after": seconds_until(allowed, now),
    }
