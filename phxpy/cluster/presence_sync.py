"""Presence across nodes: each node's entries replicated into every other node's state.

Every entry has one writer, the node whose channel tracked it. That node's
:class:`~phxpy.presence.Presence` broadcasts its coalesced ``presence_diff`` as it always
does; the cluster pub/sub delivers it to the other nodes' clients and hands it here, where
it is applied to the node's replica of the sender, inside the same
:class:`~phxpy.presence_state.PresenceState` as the node's own entries. So a joiner anywhere
gets the whole list from one state, with its cached JSON, and diffs stay coalesced.

A replica entry's owner is :class:`Remote` (node, ``phx_ref``): refs are unique across the
cluster (a random prefix per state), so a leave names exactly the entry that joined. When a
replica is replaced wholesale (after missed envelopes) or dropped (its node is gone), the
difference goes to this node's clients as one ``presence_diff`` per topic, delivered here
only: the other nodes do the same for themselves.

No I/O here: :mod:`phxpy.cluster.node` feeds it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from ..presence import DIFF_EVENT, Presence
from ..presence_state import PHX_REF, Diff, Meta, PresenceError
from ..pubsub import Broadcast
from ..types import Topic

log = logging.getLogger("phxpy.cluster")

Entry = tuple[Topic, str, Meta]
"""``(topic, key, meta)``: one presence as a node sends it in a full transfer."""


class Remote(NamedTuple):
    """The owner of a replicated entry: the node that tracked it, and its ``phx_ref``."""

    node: str
    ref: str


class PresenceReplicas:
    def __init__(self, presence: Presence, deliver_local: Callable[[Broadcast], None]) -> None:
        self._presence = presence
        self._deliver_local = deliver_local
        self._nodes: dict[str, dict[str, tuple[Topic, str]]] = {}
        """Per remote node: ref -> (topic, key) of each replicated entry."""

    def nodes(self) -> tuple[str, ...]:
        return tuple(self._nodes)

    def size(self, node: str) -> int:
        return len(self._nodes.get(node, ()))

    # ------------------------------------------------------------ own entries

    def local_entries(self) -> list[Entry]:
        """What this node tracks (not its replicas), for another node's full transfer."""
        return [
            (topic, key, meta)
            for topic, key, owner, meta in self._presence.state.entries()
            if not isinstance(owner, Remote)
        ]

    # --------------------------------------------------------------- replicas

    def apply_diff(self, node: str, topic: Topic, payload: Any) -> None:
        """A ``presence_diff`` that ``node`` broadcast (already on its way to this node's
        clients): joins, then leaves, as phoenix.js applies it."""
        if not isinstance(payload, dict):
            return
        refs = self._nodes.setdefault(node, {})
        for key, metas in _metas(payload.get("joins")):
            for meta in metas:
                self._track(node, refs, topic, key, meta)
        for key, metas in _metas(payload.get("leaves")):
            for meta in metas:
                ref = meta.get(PHX_REF) if isinstance(meta, dict) else None
                if isinstance(ref, str) and refs.get(ref) == (topic, key):
                    del refs[ref]
                    self._presence.state.untrack(topic, key, Remote(node, ref))

    def replace(self, node: str, entries: Iterable[Entry]) -> None:
        """``node``'s whole list, after a full transfer: what changed goes to this node's
        clients."""
        refs = self._nodes.setdefault(node, {})
        wanted: dict[str, Entry] = {}
        for topic, key, meta in entries:
            ref = meta.get(PHX_REF)
            if isinstance(ref, str):
                wanted[ref] = (topic, key, meta)
        diffs: dict[Topic, Diff] = {}
        state = self._presence.state
        for ref, (topic, key) in list(refs.items()):
            if ref not in wanted or wanted[ref][:2] != (topic, key):
                del refs[ref]
                left = state.untrack(topic, key, Remote(node, ref))
                _merge(diffs.setdefault(topic, Diff()), left)
        for ref, (topic, key, meta) in wanted.items():
            if ref not in refs:
                joined = self._track(node, refs, topic, key, meta)
                if joined is not None:
                    _merge(diffs.setdefault(topic, Diff()), joined)
        self._announce(diffs)

    def drop(self, node: str) -> int:
        """``node`` is gone: its entries leave. Returns how many."""
        refs = self._nodes.pop(node, {})
        diffs: dict[Topic, Diff] = {}
        state = self._presence.state
        for ref, (topic, key) in refs.items():
            _merge(diffs.setdefault(topic, Diff()), state.untrack(topic, key, Remote(node, ref)))
        self._announce(diffs)
        return len(refs)

    # ---------------------------------------------------------------- helpers

    def _track(
        self, node: str, refs: dict[str, tuple[Topic, str]], topic: Topic, key: Any, meta: Any
    ) -> Diff | None:
        if not isinstance(key, str) or not isinstance(meta, dict):
            return None
        ref = meta.get(PHX_REF)
        if not isinstance(ref, str) or ref in refs:
            return None
        try:
            _, diff = self._presence.state.track(topic, key, Remote(node, ref), meta, ref=ref)
        except PresenceError:
            return None
        refs[ref] = (topic, key)
        return diff

    def _announce(self, diffs: dict[Topic, Diff]) -> None:
        for topic, diff in diffs.items():
            if diff:
                self._deliver_local(Broadcast(topic, DIFF_EVENT, diff.payload()))


def _metas(side: Any) -> Iterable[tuple[str, list[Any]]]:
    if not isinstance(side, dict):
        return ()
    return [
        (key, value["metas"])
        for key, value in side.items()
        if isinstance(value, dict) and isinstance(value.get("metas"), list)
    ]


def _merge(into: Diff, diff: Diff) -> None:
    for key, metas in diff.joins.items():
        into.joins.setdefault(key, []).extend(metas)
    for key, metas in diff.leaves.items():
        into.leaves.setdefault(key, []).extend(metas)
