"""The organisers' moderation on several nodes (cluster mode): an action taken through any
node reaches every node's memory, and each node tells its own members.

Each node enforces a room's rules from its memory (``server.chat.moderation``). After an
action commits, the node that took it installs the new state and publishes the room's new
``moderation_version`` on the cluster's internal topic ``chat:moderation`` (no client can
join it); every node that holds the room's rules at an older version reloads them from the
database. Every relay check (each second, ``server.chat.relay``) also reads the version of
each room with members on the node, so a node that missed the publication (Redis is at most
once) catches up within a second or so.

Whenever a node's copy is replaced by a newer one (``Moderation.on_change``), the node tells
its own members what changed, from the difference of the two: slow mode, a member muted,
unmuted or removed (``member_moderated``, which also closes a removed member's channels),
and a hidden message (through the room's relay, in the room's order). The members of a node
are thus told only once the node enforces the change: a member who reads "muted" cannot get
a post through on its node. Nothing is broadcast between nodes but the version.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from phxpy import Endpoint
from phxpy.pubsub import Broadcast
from server.chat.announce import moderation_notice
from server.chat.moderation import Moderation, RoomRules
from server.chat.relay import MessageRelay
from server.chat.topics import event_topic
from server.clock import Clock
from server.db.database import Database
from server.domain import (
    REMOVED,
    MemberMuted,
    MemberRemoved,
    ModerationChange,
    RoomId,
    RoomModeration,
    SlowModeSet,
)

log = logging.getLogger(__name__)

MODERATION_TOPIC = "chat:moderation"
VERSION_EVENT = "version"


def changes(
    before: RoomRules, after: RoomRules, state: RoomModeration, now: datetime
) -> list[ModerationChange]:
    """What members are told about ``after`` replacing ``before`` (hidden messages aside:
    the relay tells those)."""
    told: list[ModerationChange] = []
    if after.slow_mode_seconds != before.slow_mode_seconds:
        told.append(SlowModeSet(after.slow_mode_seconds))
    for user_id, until in after.muted.items():
        if until > now and before.muted.get(user_id) != until:
            told.append(MemberMuted(user_id, until))
    for user_id in before.muted:
        if user_id not in after.muted and before.muted_until(user_id, now) is not None:
            told.append(MemberMuted(user_id, None))
    reasons = {r.user_id: r.reason for r in state.restrictions if r.kind == REMOVED}
    for user_id in after.removed - before.removed:
        told.append(MemberRemoved(user_id, reasons.get(user_id)))
    return told


class ModerationSync:
    def __init__(
        self,
        endpoint: Endpoint,
        moderation: Moderation,
        relay: MessageRelay,
        deliver_local: Callable[[Broadcast], None],
        clock: Clock,
    ) -> None:
        self._endpoint = endpoint
        self._moderation = moderation
        self._relay = relay
        self._deliver_local = deliver_local
        self._clock = clock
        self._db: Database | None = None
        self._reloading: dict[RoomId, asyncio.Task[None]] = {}
        self.reloads = 0
        """Rooms reloaded because another node changed them."""
        moderation.on_change = self._changed
        relay.on_moderation_version = self.seen

    # ---------------------------------------------------------------- lifecycle

    def start(self, db: Database) -> None:
        self._db = db
        self._endpoint.pubsub.subscribe(MODERATION_TOPIC, self)

    async def stop(self) -> None:
        self._endpoint.pubsub.unsubscribe(MODERATION_TOPIC, self)
        tasks = list(self._reloading.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -------------------------------------------------------------- the version

    async def published(self, state: RoomModeration) -> None:
        """An action committed on this node (whose memory has ``state`` already): every
        other node learns the room's new version."""
        await self._endpoint.broadcast(
            MODERATION_TOPIC, VERSION_EVENT, {"room_id": state.room_id, "version": state.version}
        )

    def deliver(self, broadcast: Broadcast) -> None:
        """A node published a room's version (this one's own publications included)."""
        payload = broadcast.decoded_payload()
        if not isinstance(payload, dict):
            return
        room_id, version = payload.get("room_id"), payload.get("version")
        if isinstance(room_id, str) and isinstance(version, int):
            self.seen(room_id, version)

    def seen(self, room_id: RoomId, version: int) -> None:
        """The room is at ``version`` in the database: reload it if this node holds an
        older copy (a room it holds no rules for is loaded at its next join anyway)."""
        current = self._moderation.cached(room_id)
        if current is None or current.version >= version or self._db is None:
            return
        if room_id in self._reloading:
            return  # the reload under way reads the newest state
        task = asyncio.get_running_loop().create_task(self._reload(room_id, version))
        self._reloading[room_id] = task

    async def _reload(self, room_id: RoomId, version: int) -> None:
        assert self._db is not None
        try:
            await self._moderation.reload(self._db, room_id, version)
            self.reloads += 1
        except Exception:
            # The next relay check (or publication) tries again.
            log.exception("reloading the moderation of room %s failed", room_id)
        finally:
            del self._reloading[room_id]

    # ---------------------------------------------------------- telling members

    def _changed(self, before: RoomRules, after: RoomRules, state: RoomModeration) -> None:
        topic = event_topic(state.event_id)
        for change in changes(before, after, state, self._clock.now()):
            notice = moderation_notice(change)
            if notice is not None:
                event, payload = notice
                self._deliver_local(Broadcast(topic, event, payload))
        hidden = {h.seq: h.message_id for h in state.hidden}
        for seq in sorted(set(after.hidden_seqs) - set(before.hidden_seqs)):
            self._relay.hide(state.room_id, seq, hidden[seq])
