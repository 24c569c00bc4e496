"""Presence across nodes: each node's entries replicated into every other node's state.

Every entry has one writer, the node whose channel tracked it. That node's
:class:`~phxpy.presence.Presence` publishes its coalesced changes (the cluster is its
``replicator``); every other node applies them here to its replica of the sender, inside the
same :class:`~phxpy.presence_state.PresenceState` as its own entries, and hands what changed
to its own Presence (:meth:`~phxpy.presence.Presence.apply_remote`), which tells its own
clients in its next coalesced diff, through the application's ``on_diff`` hook like a local
change. So a joiner anywhere gets the whole list from one state, with its cached JSON;
diffs stay coalesced; and a count taken on any node is the cluster's.

A replica entry's owner is :class:`Remote` (node, ``phx_ref``): refs are unique across the
cluster (a random prefix per state), so a leave names exactly the entry that joined. When a
replica is replaced wholesale (after missed envelopes) or dropped (its node is gone), the
difference goes the same way, to this node's clients only: the other nodes do the same for
themselves.

No I/O here: :mod:`phxpy.cluster.node` feeds it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, NamedTuple

from ..presence import Presence
from ..presence_state import PHX_REF, Diff, Meta, PresenceError
from ..types import Topic

log = logging.getLogger("phxpy.cluster")

Entry = tuple[Topic, str, Meta]
"""``(topic, key, meta)``: one presence as a node sends it in a full transfer."""


class Remote(NamedTuple):
    """The owner of a replicated entry: the node that tracked it, and its ``phx_ref``."""

    node: str
    ref: str


class PresenceReplicas:
    def __init__(self, presence: Presence) -> None:
        self._presence = presence
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
        """Changes ``node`` made to ``topic`` (a ``presence_diff`` payload): joins, then
        leaves, as phoenix.js applies them."""
        if not isinstance(payload, dict):
            return
        refs = self._nodes.setdefault(node, {})
        changed = Diff()
        for key, metas in _metas(payload.get("joins")):
            for meta in metas:
                joined = self._track(node, refs, topic, key, meta)
                if joined is not None:
                    _merge(changed, joined)
        for key, metas in _metas(payload.get("leaves")):
            for meta in metas:
                ref = meta.get(PHX_REF) if isinstance(meta, dict) else None
                if isinstance(ref, str) and refs.get(ref) == (topic, key):
                    del refs[ref]
                    left = self._presence.state.untrack(topic, key, Remote(node, ref))
                    _merge(changed, left)
        self._presence.apply_remote(topic, changed)

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
            self._presence.apply_remote(topic, diff)


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
