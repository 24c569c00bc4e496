"""Presence: who is on a topic, pushed to phoenix.js's ``Presence`` class.

::

    class RoomChannel(Channel):
        async def after_join(self):
            presence = self.endpoint.presence
            await presence.track(self, self.assigns["user_id"], {"online_at": "..."})
            await self.push("presence_state", presence.state_payload(self.topic))

The pushed ``presence_state`` is the joining client's starting point; every change after it
reaches all subscribers of the topic as a ``presence_diff`` broadcast. A channel's entries go
away when it ends — leave, crash, duplicate join, dropped connection — when the endpoint
reports the channel's exit (:meth:`Presence.owner_exited`). Presence knows a channel only as
:class:`Tracked`: a topic, whether it is joined, and itself as the entries' opaque owner.

Diffs are coalesced per topic: the first change in a quiet topic is broadcast on the next
loop iteration; then at most one diff per ``interval`` (endpoint clock) carries everything
that happened meanwhile. A burst of N joins into a room of N thus costs a few diffs per
member instead of N. Why clients stay right: a client subscribes before its snapshot is
read, so every change after the snapshot reaches it in a later diff; changes that are both
in the snapshot and in a later diff are idempotent for phoenix.js (joins de-duplicated by
``phx_ref``, leaves of unknown refs ignored); see :class:`~phxpy.presence_state.DiffBatch`
for a meta that joins and leaves within one batch.

On a node of a cluster (:attr:`Presence.replicator` set, see ``phxpy.cluster``) the state also
holds the other nodes' entries. Each coalesced diff of this node's own changes is handed to
the replicator for the others, and every diff (this node's and the others', the latter
given by :meth:`Presence.apply_remote`) goes through ``on_diff`` to this node's subscribers
only: each node tells its own clients, so an application's hook sees every change of the
topic, whichever node made it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .message import RawJSON
from .presence_state import (
    Diff,
    DiffBatch,
    Meta,
    Metas,
    PresenceError,
    PresenceList,
    PresenceState,
)
from .pubsub import Broadcast, PubSub
from .types import Clock, Topic

log = logging.getLogger("phxpy.presence")

DIFF_EVENT = "presence_diff"
DEFAULT_INTERVAL = 0.02

DiffHook = Callable[[Topic, Diff], Awaitable[bool]]
"""``on_diff(topic, diff)``: True to broadcast the diff, False to drop it."""


class Replicator(Protocol):
    """What carries a node's presence changes to the other nodes of a cluster."""

    def publish_diff(self, topic: Topic, diff: Diff) -> None:
        """This node's own coalesced changes of ``topic``, for the other nodes' replicas."""
        ...

    def deliver_local(self, broadcast: Broadcast) -> None:
        """To this node's subscribers only."""
        ...


@dataclass(slots=True)
class PresenceStats:
    """Counters for benchmarks and monitoring."""

    changes: int = 0
    """Tracks, untracks and updates (each an entry joining and/or leaving)."""
    diffs: int = 0
    """``presence_diff`` broadcasts sent."""
    deliveries: int = 0
    """Diff frames handed to subscribers (each diff times the topic's local subscribers)."""


class Tracked(Hashable, Protocol):
    """What Presence needs of a channel to track on it (a :class:`~phxpy.channel.Channel`
    is one). The channel itself is the owner of what it tracks: an opaque, hashable key
    that the endpoint passes to :meth:`Presence.owner_exited` when the channel ends."""

    @property
    def topic(self) -> Topic: ...

    @property
    def joined(self) -> bool:
        """Only a joined channel may track: one that ended (or has not joined yet) would
        never be reported as ended, and its entries would stay forever."""
        ...


class Presence:
    """The endpoint's presence service: ``endpoint.presence``, made on first use with the
    endpoint's pub/sub, clock and ``presence_interval``."""

    def __init__(
        self,
        pubsub: PubSub,
        clock: Clock,
        *,
        interval: float = DEFAULT_INTERVAL,
        state: PresenceState | None = None,
    ) -> None:
        self._pubsub = pubsub
        self._clock = clock
        self.interval = interval
        """Least time between two diffs of one topic; 0 flushes every loop iteration."""
        self.state = state if state is not None else PresenceState()
        self.stats = PresenceStats()
        self._pending: dict[Topic, DiffBatch] = {}
        """Per topic, what this node's subscribers have not heard of yet."""
        self._outgoing: dict[Topic, DiffBatch] = {}
        """Per topic, this node's own changes the other nodes have not heard of yet."""
        self._flushers: dict[Topic, asyncio.Task[None]] = {}
        self._closed = False
        self.on_diff: DiffHook | None = None
        """Called with each coalesced diff before it is broadcast; returning False drops it
        (an application that tells a big topic something else, a count say)."""
        self.replicator: Replicator | None = None
        """Set by a cluster: this node's changes are published to the other nodes, and
        diffs go to this node's subscribers only."""

    # ---------------------------------------------------------------- changes

    async def track(
        self,
        target: Tracked | Topic,
        key: Any,
        meta: Mapping[str, Any],
        *,
        owner: Hashable | None = None,
    ) -> str:
        """Track ``key`` (a user id, stringified) with ``meta`` on a channel's topic, owned
        by the channel (removed when it ends); or on a topic name, owned by ``owner``
        (default: this service) until untracked. Returns the meta's ``phx_ref``."""
        topic, who = self._resolve(target, owner)
        ref, diff = self.state.track(topic, str(key), who, meta)
        self._queue(topic, diff)
        return ref

    async def update(
        self,
        target: Tracked | Topic,
        key: Any,
        meta: Mapping[str, Any] | Callable[[Meta], Mapping[str, Any]],
        *,
        owner: Hashable | None = None,
    ) -> str:
        """Replace a tracked meta (or apply ``meta(old)``); returns the new ``phx_ref``."""
        topic, who = self._resolve(target, owner)
        ref, diff = self.state.update(topic, str(key), who, meta)
        self._queue(topic, diff)
        return ref

    async def untrack(
        self, target: Tracked | Topic, key: Any, *, owner: Hashable | None = None
    ) -> None:
        topic, who = self._resolve(target, owner)
        self._queue(topic, self.state.untrack(topic, str(key), who))

    async def broadcast(self, topic: Topic, event: str, payload: Any) -> None:
        """Tell ``topic``'s subscribers something about its presence (a count, say) the way
        diffs reach them: every subscriber in one process; on a node of a cluster, this
        node's own (each node tells its own, from the same replicated state)."""
        if self.replicator is not None:
            self.replicator.deliver_local(Broadcast(topic, event, payload))
        else:
            await self._pubsub.broadcast(topic, event, payload)

    # ---------------------------------------------------------------- queries

    def list(self, topic: Topic) -> PresenceList:
        """``{"<key>": {"metas": [...]}}``, a snapshot. To push as ``presence_state``,
        :meth:`state_payload` is the same and cheaper."""
        self._snapshot_taken(topic)
        return self.state.list(topic)

    def state_payload(self, topic: Topic) -> RawJSON:
        """:meth:`list` already encoded, from per-key JSON cached between changes: push it
        as ``presence_state``. Each joiner of a room of N would otherwise have the whole
        list encoded again, O(N²) over a burst of joins."""
        self._snapshot_taken(topic)
        return RawJSON(self.state.state_json(topic))

    def get(self, topic: Topic, key: Any) -> Metas:
        return self.state.get(topic, str(key))

    def count(self, topic: Topic) -> int:
        """How many keys are present on ``topic``."""
        return self.state.count(topic)

    # --------------------------------------------------------------- internals

    def _resolve(self, target: Tracked | Topic, owner: Hashable | None) -> tuple[Topic, Hashable]:
        if isinstance(target, str):
            return target, owner if owner is not None else self
        if not target.joined:
            raise PresenceError(
                f"the channel on {target.topic!r} is not joined (track from after_join on)"
            )
        return target.topic, owner if owner is not None else target

    def _snapshot_taken(self, topic: Topic) -> None:
        # Whoever reads the list now holds the pending joins: a meta that leaves within the
        # same batch must be announced to them (see DiffBatch).
        batch = self._pending.get(topic)
        if batch is not None:
            batch.snapshot_taken()

    def owner_exited(self, owner: Hashable) -> None:
        """``owner`` (a channel) ended: everything it tracked leaves."""
        for topic, diff in self.state.untrack_owner(owner).items():
            self._queue(topic, diff)

    def apply_remote(self, topic: Topic, diff: Diff) -> None:
        """Another node's change, already applied to :attr:`state` (by the cluster's
        replica of that node): this node's subscribers hear of it with the next diff."""
        if not diff or self._closed:
            return
        self._add(self._pending, topic, diff)

    def _queue(self, topic: Topic, diff: Diff) -> None:
        if not diff or self._closed:
            return
        self.stats.changes += 1
        if self.replicator is not None:
            self._add(self._outgoing, topic, diff)
        self._add(self._pending, topic, diff)

    def _add(self, batches: dict[Topic, DiffBatch], topic: Topic, diff: Diff) -> None:
        batch = batches.get(topic)
        if batch is None:
            batch = batches[topic] = DiffBatch()
        batch.add(diff)
        if topic not in self._flushers:
            loop = asyncio.get_running_loop()
            self._flushers[topic] = loop.create_task(self._flush_loop(topic))

    async def _flush_loop(self, topic: Topic) -> None:
        try:
            while True:
                # One loop iteration: what else is ready now joins this diff.
                await asyncio.sleep(0)
                outgoing = self._outgoing.pop(topic, None)
                batch = self._pending.pop(topic, None)
                if batch is None and outgoing is None:
                    return  # no await after the check: _queue cannot miss this exit
                if outgoing and self.replicator is not None:
                    # The other nodes hear of this node's changes before its own clients
                    # do, so that they apply them as soon as possible.
                    self._replicate(topic, outgoing.diff())
                if batch:
                    await self._broadcast(topic, batch.diff())
                if self.interval > 0:
                    await self._clock.sleep(self.interval)
        finally:
            if self._flushers.get(topic) is asyncio.current_task():
                del self._flushers[topic]

    async def _broadcast(self, topic: Topic, diff: Diff) -> None:
        if self.on_diff is not None:
            try:
                if not await self.on_diff(topic, diff):
                    return
            except Exception:
                log.exception("presence on_diff hook for %r failed", topic)
        self.stats.diffs += 1
        self.stats.deliveries += self._pubsub.subscriber_count(topic)
        try:
            if self.replicator is not None:
                self.replicator.deliver_local(Broadcast(topic, DIFF_EVENT, diff.payload()))
            else:
                await self._pubsub.broadcast(topic, DIFF_EVENT, diff.payload())
        except Exception:
            log.exception("presence_diff on %r failed", topic)

    def _replicate(self, topic: Topic, diff: Diff) -> None:
        assert self.replicator is not None
        try:
            self.replicator.publish_diff(topic, diff)
        except Exception:
            log.exception("replicating presence on %r failed", topic)

    def close(self) -> None:
        """Stop broadcasting (endpoint shutdown); pending diffs are dropped. The state
        itself stays correct as channels end."""
        self._closed = True
        for task in self._flushers.values():
            task.cancel()
        self._flushers.clear()
        self._pending.clear()
        self._outgoing.clear()
