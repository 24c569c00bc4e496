"""Who is present on which topic: a pure data structure, no I/O, no clock.

An entry is keyed by ``(topic, key, owner)``: ``key`` is what clients group by (a user id),
``owner`` who tracked it (a channel, so one user's tabs each have their own entry). Each
entry's meta carries a ``phx_ref`` unique across all entries ever made (a random per-state
prefix and a counter), so entries from several nodes can be merged without clashes — what a
replicated presence needs.

Every change returns the :class:`Diff` Phoenix would broadcast (``{"joins": …, "leaves": …}``,
only the metas that changed). :class:`DiffBatch` merges the diffs of a burst into one.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import secrets
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import PhxError
from .serializer import json_dumps
from .types import Topic

Meta = dict[str, Any]
"""A presence's metadata as sent to clients: the app's fields plus ``phx_ref`` (and
``phx_ref_prev`` after an update). Treat as immutable once tracked (its JSON is cached)."""
Metas = list[Meta]
Owner = Hashable
PresenceList = dict[str, dict[str, Metas]]
"""``{"<key>": {"metas": [meta, ...]}, ...}``: the payload of ``presence_state``."""

PHX_REF = "phx_ref"
PHX_REF_PREV = "phx_ref_prev"


class PresenceError(PhxError):
    """Tracking twice under the same (topic, key, owner), or updating what is not tracked."""


@dataclass(slots=True)
class Diff:
    """Metas that joined and left, grouped by key."""

    joins: dict[str, Metas] = field(default_factory=dict)
    leaves: dict[str, Metas] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.joins or self.leaves)

    def payload(self) -> dict[str, PresenceList]:
        """The ``presence_diff`` payload: both keys always present, as Phoenix sends it."""
        return {
            "joins": {key: {"metas": metas} for key, metas in self.joins.items()},
            "leaves": {key: {"metas": metas} for key, metas in self.leaves.items()},
        }


class PresenceState:
    """Presence entries of every topic. Methods return what changed; nothing is sent."""

    def __init__(self, ref_prefix: bytes | None = None) -> None:
        # 6 random bytes + a 6-byte counter = 16 URL-safe characters, Phoenix's ref length.
        self._prefix = ref_prefix if ref_prefix is not None else secrets.token_bytes(6)
        self._counter = itertools.count(1)
        self._topics: dict[Topic, dict[str, dict[Owner, Meta]]] = {}
        self._owned: dict[Owner, dict[tuple[Topic, str], None]] = {}
        # list() per topic, kept up to date one key at a time: every joiner of a big room
        # asks for it. Its {"metas": [...]} values are replaced, never mutated, so a
        # shallow copy handed out stays a consistent snapshot.
        self._lists: dict[Topic, PresenceList] = {}
        # The same list as JSON, for state_json(): per key its encoded fragment
        # '"<key>":{"metas":[...]}', the keys whose fragment is stale (re-encoded on the
        # next state_json, so a burst of changes costs one encoding per key), the keys in
        # sorted order (json_dumps sorts keys, as Jason does) and the whole object until
        # the next change. A joiner of a room of N then costs the encoding of the keys
        # that changed since the last joiner, not of all N.
        self._fragments: dict[Topic, dict[str, bytes]] = {}
        self._stale: dict[Topic, set[str]] = {}
        self._sorted_keys: dict[Topic, list[str]] = {}
        self._json: dict[Topic, bytes] = {}

    def make_ref(self) -> str:
        raw = self._prefix + next(self._counter).to_bytes(6, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    # ---------------------------------------------------------------- changes

    def track(
        self,
        topic: Topic,
        key: str,
        owner: Owner,
        meta: Mapping[str, Any],
        *,
        ref: str | None = None,
    ) -> tuple[str, Diff]:
        """Add ``owner``'s presence under ``key``. ``ref`` is for replicas applying an
        entry made elsewhere (its meta is taken as its origin made it, ``phx_ref_prev``
        included); locally a fresh one is made. Raises :class:`PresenceError` if ``owner``
        already tracks ``key`` on ``topic`` (as Phoenix's "already tracked")."""
        entries = self._topics.setdefault(topic, {}).setdefault(key, {})
        if owner in entries:
            raise PresenceError(f"{key!r} is already tracked on {topic!r} by this owner")
        new = _with_ref(meta, self.make_ref()) if ref is None else {**meta, PHX_REF: ref}
        entries[owner] = new
        self._owned.setdefault(owner, {})[(topic, key)] = None
        self._refresh(topic, key)
        return new[PHX_REF], Diff(joins={key: [new]})

    def update(
        self,
        topic: Topic,
        key: str,
        owner: Owner,
        meta: Mapping[str, Any] | Callable[[Meta], Mapping[str, Any]],
    ) -> tuple[str, Diff]:
        """Replace the meta (or apply ``meta(old)``): a new ``phx_ref``, ``phx_ref_prev``
        the old one; one diff with the new meta joining and the old one leaving."""
        entries = self._topics.get(topic, {}).get(key, {})
        old = entries.get(owner)
        if old is None:
            raise PresenceError(f"{key!r} is not tracked on {topic!r} by this owner")
        fields = meta(dict(old)) if callable(meta) else meta
        new = _with_ref(fields, self.make_ref())
        new[PHX_REF_PREV] = old[PHX_REF]
        # Re-inserted last: where phoenix.js puts a joined meta, so both lists agree.
        del entries[owner]
        entries[owner] = new
        self._refresh(topic, key)
        return new[PHX_REF], Diff(joins={key: [new]}, leaves={key: [old]})

    def untrack(self, topic: Topic, key: str, owner: Owner) -> Diff:
        """Remove ``owner``'s presence under ``key`` (an empty diff if there is none)."""
        keys = self._topics.get(topic)
        entries = keys.get(key) if keys is not None else None
        if keys is None or entries is None or owner not in entries:
            return Diff()
        old = entries.pop(owner)
        if not entries:
            del keys[key]
            if not keys:
                del self._topics[topic]
        self._refresh(topic, key)
        owned = self._owned[owner]
        del owned[(topic, key)]
        if not owned:
            del self._owned[owner]
        return Diff(leaves={key: [old]})

    def untrack_owner(self, owner: Owner) -> dict[Topic, Diff]:
        """Remove everything ``owner`` tracks (its channel ended). One diff per topic."""
        diffs: dict[Topic, Diff] = {}
        for topic, key in list(self._owned.get(owner, ())):
            diff = diffs.setdefault(topic, Diff())
            diff.leaves.setdefault(key, []).extend(self.untrack(topic, key, owner).leaves[key])
        return diffs

    # ---------------------------------------------------------------- queries

    def list(self, topic: Topic) -> PresenceList:
        """``{"<key>": {"metas": [...]}}`` for ``topic``, metas in tracking order. A
        snapshot: later changes do not show in it (do not mutate it either)."""
        return dict(self._lists.get(topic, {}))

    def state_json(self, topic: Topic) -> bytes:
        """``json_dumps(self.list(topic))`` built from cached per-key fragments: only the
        keys changed since the last call are encoded. Byte for byte the same unless a
        string holds a lone surrogate (then only its own fragment is ASCII-escaped, which
        decodes the same). Raises :class:`~phxpy.errors.EncodeError` if a meta is not
        JSON-serializable."""
        whole = self._json.get(topic)
        if whole is not None:
            return whole
        keys = self._sorted_keys.get(topic)
        if not keys:
            return b"{}"
        fragments = self._fragments.setdefault(topic, {})
        stale = self._stale.get(topic)
        if stale:
            listed = self._lists[topic]
            # The encoder's own output minus its braces: escaping and number formatting
            # exactly as json_dumps writes them, which keeps the joined bytes equal. All
            # encoded before any is stored: if one raises, every stale key stays stale.
            fresh = {key: json_dumps({key: listed[key]})[1:-1] for key in stale}
            fragments.update(fresh)
            del self._stale[topic]
        whole = b"".join((b"{", b",".join(map(fragments.__getitem__, keys)), b"}"))
        self._json[topic] = whole
        return whole

    def _refresh(self, topic: Topic, key: str) -> None:
        self._json.pop(topic, None)
        entries = self._topics.get(topic, {}).get(key)
        if entries:
            current = self._lists.setdefault(topic, {})
            if key not in current:
                bisect.insort(self._sorted_keys.setdefault(topic, []), key)
            current[key] = {"metas": list(entries.values())}
            self._stale.setdefault(topic, set()).add(key)
            return
        listed = self._lists.get(topic)
        if listed is None or key not in listed:
            return
        del listed[key]
        keys = self._sorted_keys[topic]
        del keys[bisect.bisect_left(keys, key)]
        self._fragments.get(topic, {}).pop(key, None)
        self._stale.get(topic, set()).discard(key)
        if not listed:
            for cache in (self._lists, self._sorted_keys, self._fragments, self._stale):
                cache.pop(topic, None)

    def get(self, topic: Topic, key: str) -> Metas:
        return list(self._topics.get(topic, {}).get(key, {}).values())

    def count(self, topic: Topic) -> int:
        """The number of keys present on ``topic``."""
        return len(self._topics.get(topic, ()))

    def entries(self) -> Iterator[tuple[Topic, str, Owner, Meta]]:
        """Every entry as ``(topic, key, owner, meta)`` (what a replica of another node
        needs: see ``phxpy.cluster``). Do not change the state while iterating."""
        for topic, keys in self._topics.items():
            for key, entries in keys.items():
                for owner, meta in entries.items():
                    yield topic, key, owner, meta

    def topics(self) -> tuple[Topic, ...]:
        """The topics with at least one presence."""
        return tuple(self._topics)


def _with_ref(meta: Mapping[str, Any], ref: str) -> Meta:
    # The refs are ours to give: a client-supplied phx_ref would break de-duplication.
    new = {k: v for k, v in meta.items() if k not in (PHX_REF, PHX_REF_PREV)}
    new[PHX_REF] = ref
    return new


class DiffBatch:
    """The changes to one topic that are not broadcast yet, merged into one diff.

    A meta that joins and leaves within the batch is normally dropped from both sides:
    nobody has heard of it. Unless a snapshot of the topic (a ``presence_state``) was taken
    in between: that client has the meta and must hear it leave, so the leave stays (other
    clients ignore a leave of a ref they never saw, as phoenix.js does).
    """

    __slots__ = ("_joined_at", "_joins", "_leaves", "_snapshots")

    def __init__(self) -> None:
        self._joins: dict[str, tuple[str, Meta]] = {}
        self._leaves: dict[str, tuple[str, Meta]] = {}
        self._joined_at: dict[str, int] = {}
        self._snapshots = 0

    def __bool__(self) -> bool:
        return bool(self._joins or self._leaves)

    def add(self, diff: Diff) -> None:
        # Joins before leaves, as phoenix.js applies a diff: an update's new meta joins
        # and its old one leaves.
        for key, metas in diff.joins.items():
            for meta in metas:
                ref = meta[PHX_REF]
                self._joins[ref] = (key, meta)
                self._joined_at[ref] = self._snapshots
        for key, metas in diff.leaves.items():
            for meta in metas:
                ref = meta[PHX_REF]
                if ref in self._joins:
                    del self._joins[ref]
                    if self._joined_at.pop(ref) == self._snapshots:
                        continue  # joined and left unseen
                self._leaves[ref] = (key, meta)

    def snapshot_taken(self) -> None:
        """Someone read the topic's list (e.g. for a ``presence_state``) meanwhile."""
        self._snapshots += 1

    def diff(self) -> Diff:
        merged = Diff()
        for key, meta in self._joins.values():
            merged.joins.setdefault(key, []).append(meta)
        for key, meta in self._leaves.values():
            merged.leaves.setdefault(key, []).append(meta)
        return merged
