"""PresenceState and DiffBatch: pure, checked against a port of phoenix.js's Presence."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phxpy import presence_state
from phxpy.errors import EncodeError
from phxpy.presence_state import Diff, DiffBatch, PresenceError, PresenceState
from phxpy.serializer import json_dumps

from .presence_replica import ClientPresence, State, sync_diff

ROOM = "room:lobby"


def refs(metas: list[dict[str, Any]]) -> list[str]:
    return [meta["phx_ref"] for meta in metas]


def test_track_lists_metas_by_key_with_unique_refs() -> None:
    state = PresenceState()
    ref_a, diff = state.track(ROOM, "u1", "tab-a", {"online_at": "1"})
    assert diff.payload() == {
        "joins": {"u1": {"metas": [{"online_at": "1", "phx_ref": ref_a}]}},
        "leaves": {},
    }
    ref_b, _ = state.track(ROOM, "u1", "tab-b", {"online_at": "2"})
    ref_c, _ = state.track(ROOM, "u2", "tab-c", {})
    assert len({ref_a, ref_b, ref_c}) == 3
    assert state.list(ROOM) == {
        "u1": {
            "metas": [{"online_at": "1", "phx_ref": ref_a}, {"online_at": "2", "phx_ref": ref_b}]
        },
        "u2": {"metas": [{"phx_ref": ref_c}]},
    }
    assert state.list("room:empty") == {}


def test_list_is_a_snapshot() -> None:
    """list() is kept up to date incrementally (every joiner of a big room asks for it);
    what it returned earlier must not change under a caller's feet."""
    state = PresenceState()
    state.track(ROOM, "u1", 1, {})
    before = state.list(ROOM)
    state.track(ROOM, "u1", 2, {})
    state.track(ROOM, "u2", 3, {})
    state.untrack_owner(1)
    assert [len(entry["metas"]) for entry in before.values()] == [1]
    assert list(before) == ["u1"]
    assert [len(entry["metas"]) for entry in state.list(ROOM).values()] == [1, 1]


def test_refs_are_url_safe_and_phoenix_sized() -> None:
    ref, _ = PresenceState().track(ROOM, "u1", 1, {})
    assert len(ref) == 16
    assert ref.replace("-", "").replace("_", "").isalnum()


def test_two_states_never_share_refs() -> None:
    """Refs carry a random prefix: entries made on two nodes can be merged."""
    one, two = PresenceState(), PresenceState()
    assert one.track(ROOM, "u", 1, {})[0] != two.track(ROOM, "u", 1, {})[0]


def test_client_cannot_choose_its_ref() -> None:
    state = PresenceState()
    ref, _ = state.track(ROOM, "u1", 1, {"phx_ref": "forged", "phx_ref_prev": "x"})
    assert state.get(ROOM, "u1") == [{"phx_ref": ref}]


def test_tracking_twice_from_one_owner_is_an_error() -> None:
    state = PresenceState()
    state.track(ROOM, "u1", "owner", {})
    with pytest.raises(PresenceError):
        state.track(ROOM, "u1", "owner", {})
    # Another key, topic or owner is fine.
    state.track(ROOM, "u2", "owner", {})
    state.track("room:other", "u1", "owner", {})
    state.track(ROOM, "u1", "other owner", {})


def test_update_emits_join_with_prev_and_leave_in_one_diff() -> None:
    state = PresenceState()
    old_ref, _ = state.track(ROOM, "u1", 1, {"status": "here"})
    new_ref, diff = state.update(ROOM, "u1", 1, {"status": "away"})
    assert diff.payload() == {
        "joins": {
            "u1": {"metas": [{"status": "away", "phx_ref": new_ref, "phx_ref_prev": old_ref}]}
        },
        "leaves": {"u1": {"metas": [{"status": "here", "phx_ref": old_ref}]}},
    }
    _, diff = state.update(ROOM, "u1", 1, lambda old: {**old, "typing": True})
    assert diff.joins["u1"][0]["status"] == "away"
    assert diff.joins["u1"][0]["typing"] is True
    with pytest.raises(PresenceError):
        state.update(ROOM, "nobody", 1, {})


def test_untrack_and_untrack_owner() -> None:
    state = PresenceState()
    state.track(ROOM, "u1", "a", {})
    state.track(ROOM, "u1", "b", {})
    state.track("room:other", "u1", "a", {})
    assert not state.untrack(ROOM, "u1", "nobody")
    diff = state.untrack(ROOM, "u1", "b")
    assert list(diff.leaves) == ["u1"] and not diff.joins
    diffs = state.untrack_owner("a")
    assert set(diffs) == {ROOM, "room:other"}
    assert state.list(ROOM) == {} and state.topics() == ()
    assert state.untrack_owner("a") == {}


def test_state_json_is_the_list_encoded() -> None:
    state = PresenceState()
    assert state.state_json(ROOM) == b"{}"
    state.track(ROOM, "u2", 1, {"name": "Zoë"})
    state.track(ROOM, "u1", 2, {})
    state.track(ROOM, "u1", 3, {"n": 1.5})
    encoded = state.state_json(ROOM)
    # Keys sorted (json_dumps and Jason both sort), metas in tracking order.
    assert encoded == json_dumps(state.list(ROOM))
    assert list(json.loads(encoded)) == ["u1", "u2"]
    assert state.state_json(ROOM) is encoded  # unchanged: not even joined again
    state.untrack_owner(1)
    state.untrack_owner(2)
    state.untrack_owner(3)
    assert state.state_json(ROOM) == b"{}"


def test_state_json_encodes_only_the_keys_that_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of the cache: a joiner of a room of N costs one key's encoding, not N."""
    encoded: list[str] = []

    def spy(value: Any) -> bytes:
        encoded.extend(value)
        return json_dumps(value)

    monkeypatch.setattr(presence_state, "json_dumps", spy)
    state = PresenceState()
    for n in range(50):
        state.track(ROOM, f"u{n}", n, {"n": n})
    state.state_json(ROOM)
    assert sorted(encoded) == sorted(f"u{n}" for n in range(50))
    encoded.clear()
    state.track(ROOM, "new", "new", {})
    state.update(ROOM, "u7", 7, {"n": -7})
    state.track(ROOM, "u9", "second tab", {})
    state.untrack(ROOM, "u3", 3)
    state.track("room:other", "u1", 1, {})  # another topic's change costs this one nothing
    assert state.state_json(ROOM) == json_dumps(state.list(ROOM))
    assert sorted(encoded) == ["new", "u7", "u9"]
    encoded.clear()
    state.state_json(ROOM)
    assert encoded == []


def test_state_json_raises_for_an_unencodable_meta_until_it_goes() -> None:
    state = PresenceState()
    state.track(ROOM, "ok", 1, {})
    state.track(ROOM, "bad", 2, {"x": object()})
    for _ in range(2):
        with pytest.raises(EncodeError):
            state.state_json(ROOM)
    state.untrack(ROOM, "bad", 2)
    assert state.state_json(ROOM) == json_dumps(state.list(ROOM))


def test_state_json_with_a_lone_surrogate_decodes_the_same() -> None:
    """Only the fragment holding it is ASCII-escaped (json_dumps escapes the whole list):
    other bytes differ, the decoded value does not."""
    state = PresenceState()
    state.track(ROOM, "u1", 1, {"s": "\ud800"})
    state.track(ROOM, "u2", 2, {"s": "é"})
    assert json.loads(state.state_json(ROOM)) == json.loads(json_dumps(state.list(ROOM)))


def test_batch_drops_a_meta_that_joined_and_left_unseen() -> None:
    state, batch = PresenceState(), DiffBatch()
    _, diff = state.track(ROOM, "u1", 1, {})
    batch.add(diff)
    batch.add(state.untrack(ROOM, "u1", 1))
    assert not batch
    assert batch.diff().payload() == {"joins": {}, "leaves": {}}


def test_batch_keeps_the_leave_of_a_meta_someone_saw() -> None:
    """A client whose presence_state included the meta must hear it leave."""
    state, batch = PresenceState(), DiffBatch()
    ref, diff = state.track(ROOM, "u1", 1, {})
    batch.add(diff)
    batch.snapshot_taken()
    batch.add(state.untrack(ROOM, "u1", 1))
    assert batch.diff().payload() == {"joins": {}, "leaves": {"u1": {"metas": [{"phx_ref": ref}]}}}


def test_batch_merges_updates() -> None:
    state = PresenceState()
    first, _ = state.track(ROOM, "u1", 1, {"n": 0})
    batch = DiffBatch()
    for n in range(1, 4):
        batch.add(state.update(ROOM, "u1", 1, {"n": n})[1])
    merged = batch.diff()
    assert [m["n"] for m in merged.joins["u1"]] == [3]
    assert refs(merged.leaves["u1"]) == [first]


# ------------------------------------------------------------------- properties

KEYS = st.sampled_from(["u1", "u2", "u3", "__proto__"])
OWNERS = st.integers(0, 4)
TOPICS = st.sampled_from([ROOM, "room:other"])
META = st.fixed_dictionaries({"n": st.integers(0, 9)})
OPERATION = st.one_of(
    st.tuples(st.just("track"), TOPICS, KEYS, OWNERS, META),
    st.tuples(st.just("update"), TOPICS, KEYS, OWNERS, META),
    st.tuples(st.just("untrack"), TOPICS, KEYS, OWNERS),
    st.tuples(st.just("drop"), OWNERS),
)


def apply(state: PresenceState, op: tuple[Any, ...]) -> dict[str, Diff]:
    """Run one operation; the diffs it emits, by topic (invalid ones emit nothing)."""
    kind = op[0]
    try:
        if kind == "track":
            return {op[1]: state.track(op[1], op[2], op[3], op[4])[1]}
        if kind == "update":
            return {op[1]: state.update(op[1], op[2], op[3], op[4])[1]}
        if kind == "untrack":
            return {op[1]: state.untrack(op[1], op[2], op[3])}
        return state.untrack_owner(op[1])
    except PresenceError:
        return {}


@settings(max_examples=300)
@given(st.lists(OPERATION, max_size=60))
def test_every_diff_keeps_a_phoenix_js_replica_exact(ops: list[tuple[Any, ...]]) -> None:
    state = PresenceState()
    replicas: dict[str, State] = {ROOM: {}, "room:other": {}}
    for op in ops:
        for topic, diff in apply(state, op).items():
            replicas[topic] = sync_diff(replicas[topic], diff.payload())
        for topic, replica in replicas.items():
            assert replica == state.list(topic)


STATE_KEYS = st.sampled_from(["u1", "u10", "U2", "é", "", "\u00e9\u0301", "__proto__"])
STATE_META = st.fixed_dictionaries({"n": st.integers(0, 9), "s": st.text(max_size=3)})
STATE_OPERATION = st.one_of(
    st.tuples(st.just("track"), TOPICS, STATE_KEYS, OWNERS, STATE_META),
    st.tuples(st.just("update"), TOPICS, STATE_KEYS, OWNERS, STATE_META),
    st.tuples(st.just("untrack"), TOPICS, STATE_KEYS, OWNERS),
    st.tuples(st.just("drop"), OWNERS),
    st.tuples(st.just("read"), TOPICS),
)


@settings(max_examples=300)
@given(st.lists(STATE_OPERATION, max_size=60))
def test_state_json_always_equals_the_encoded_list(ops: list[tuple[Any, ...]]) -> None:
    """Whatever happened, and whenever the cache was last read, byte for byte."""
    state = PresenceState()
    for op in ops:
        if op[0] == "read":  # changes pile up between reads, as between two joiners
            assert state.state_json(op[1]) == json_dumps(state.list(op[1]))
        else:
            apply(state, op)
    for topic in (ROOM, "room:other"):
        assert state.state_json(topic) == json_dumps(state.list(topic))


ACTION = st.one_of(
    OPERATION.filter(lambda op: op[0] == "drop" or op[1] == ROOM),
    st.just(("flush",)),
    st.just(("subscribe",)),
    st.tuples(st.just("snapshot"), st.integers(0, 5)),
)


@settings(max_examples=300)
@given(st.lists(ACTION, max_size=80))
def test_coalesced_diffs_keep_late_joiners_exact(actions: list[tuple[Any, ...]]) -> None:
    """Clients subscribe, later read a snapshot (presence_state), and get the merged diffs
    of whatever batches are flushed meanwhile, held until their snapshot as phoenix.js
    does. Once everything is flushed, every client shows exactly the server's list."""
    state = PresenceState()
    batch = DiffBatch()
    clients: list[ClientPresence] = []

    def flush() -> None:
        nonlocal batch
        if batch:
            payload = batch.diff().payload()
            for client in clients:
                client.on_diff(payload)
        batch = DiffBatch()

    def snapshot(client: ClientPresence) -> None:
        batch.snapshot_taken()
        client.on_state(state.list(ROOM))

    for action in actions:
        if action[0] == "flush":
            flush()
        elif action[0] == "subscribe":
            clients.append(ClientPresence())
        elif action[0] == "snapshot":
            waiting = [c for c in clients if not c.synced]
            if waiting:
                snapshot(waiting[action[1] % len(waiting)])
        else:
            diff = apply(state, action).get(ROOM)
            if diff:
                batch.add(diff)
        if not batch:
            for client in clients:
                if client.synced:
                    assert client.state == state.list(ROOM)
    flush()
    for client in clients:
        if not client.synced:
            snapshot(client)
        assert client.state == state.list(ROOM)
