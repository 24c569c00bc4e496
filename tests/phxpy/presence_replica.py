"""phoenix.js's Presence bookkeeping (assets/js/phoenix/presence.js), ported line for line.

The server's diffs are right exactly when applying them with these functions reproduces the
server's ``list()``. Keys are compared as a dict (JavaScript orders integer-like keys first;
the order of keys means nothing to phoenix.js), metas as lists (their order is visible in
``Presence.list()``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

State = dict[str, dict[str, Any]]


def clone(value: Any) -> Any:
    """``JSON.parse(JSON.stringify(obj))``."""
    return json.loads(json.dumps(value))


def sync_diff(state: State, diff: dict[str, State]) -> State:
    joins, leaves = clone(diff["joins"]), clone(diff["leaves"])
    for key, new_presence in joins.items():
        current = state.get(key)
        state[key] = clone(new_presence)
        if current:
            joined_refs = [m["phx_ref"] for m in state[key]["metas"]]
            cur_metas = [m for m in current["metas"] if m["phx_ref"] not in joined_refs]
            state[key]["metas"][0:0] = cur_metas
    for key, left in leaves.items():
        current = state.get(key)
        if not current:
            continue
        refs = [m["phx_ref"] for m in left["metas"]]
        current["metas"] = [p for p in current["metas"] if p["phx_ref"] not in refs]
        if not current["metas"]:
            del state[key]
    return state


def sync_state(current: State, new_state: State) -> State:
    state = clone(current)
    new_state = copy.deepcopy(new_state)
    joins: State = {}
    leaves: State = {}
    for key, presence in state.items():
        if key not in new_state:
            leaves[key] = presence
    for key, new_presence in new_state.items():
        current_presence = state.get(key)
        if current_presence:
            new_refs = [m["phx_ref"] for m in new_presence["metas"]]
            cur_refs = [m["phx_ref"] for m in current_presence["metas"]]
            joined = [m for m in new_presence["metas"] if m["phx_ref"] not in cur_refs]
            left = [m for m in current_presence["metas"] if m["phx_ref"] not in new_refs]
            if joined:
                joins[key] = new_presence
                joins[key]["metas"] = joined
            if left:
                leaves[key] = clone(current_presence)
                leaves[key]["metas"] = left
        else:
            joins[key] = new_presence
    return sync_diff(state, {"joins": joins, "leaves": leaves})


class ClientPresence:
    """One client's ``Presence`` object: diffs before its state are held, as phoenix.js
    does until it has a ``presence_state`` for its current join."""

    def __init__(self) -> None:
        self.state: State = {}
        self.synced = False
        self.pending: list[dict[str, State]] = []

    def on_state(self, new_state: State) -> None:
        self.state = sync_state(self.state, new_state)
        for diff in self.pending:
            self.state = sync_diff(self.state, diff)
        self.pending = []
        self.synced = True

    def on_diff(self, diff: dict[str, State]) -> None:
        if not self.synced:
            self.pending.append(diff)
        else:
            self.state = sync_diff(self.state, diff)
