"""The Presence service on real channels (phxpy.testing, no network), with a FakeClock so
the coalescing interval passes only when a test says so."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from examples.twin import PresenceUserSocket
from phxpy import Channel, Endpoint, Presence, PresenceError
from phxpy.testing import ChannelClient, FakeClock, connect

from .presence_replica import ClientPresence

LOBBY = "room:lobby"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def endpoint(clock: FakeClock) -> Endpoint:
    return Endpoint(clock=clock)


def presence_of(endpoint: Endpoint) -> Presence:
    assert endpoint.presence is not None
    return endpoint.presence


@contextlib.asynccontextmanager
async def member(endpoint: Endpoint, user: str) -> AsyncIterator[ChannelClient]:
    async with connect(
        PresenceUserSocket, {"token": "good-token", "user": user}, endpoint=endpoint
    ) as c:
        yield c


async def joined(client: ChannelClient, topic: str = LOBBY) -> dict[str, Any]:
    """Join; return the presence_state the twin pushes after it."""
    assert (await client.join(topic)).status == "ok"
    state = await client.assert_push(topic, "presence_state")
    return dict(state.payload)


async def diff(client: ChannelClient, topic: str = LOBBY) -> dict[str, Any]:
    frame = await client.assert_push(topic, "presence_diff")
    assert frame.join_ref is None  # a broadcast
    return dict(frame.payload)


def refs(presence: dict[str, Any], key: str) -> list[str]:
    return [meta["phx_ref"] for meta in presence[key]["metas"]]


async def test_state_then_own_join_diff(endpoint: Endpoint) -> None:
    async with member(endpoint, "u1") as a:
        state = await joined(a)
        assert list(state) == ["u1"]
        meta = state["u1"]["metas"][0]
        assert set(meta) == {"online_at", "phx_ref"}
        assert await diff(a) == {"joins": {"u1": {"metas": [meta]}}, "leaves": {}}


async def test_second_tab_then_tab_closes(endpoint: Endpoint, clock: FakeClock) -> None:
    async with member(endpoint, "u1") as tab_a:
        state_a = await joined(tab_a)
        await diff(tab_a)
        async with member(endpoint, "u1") as tab_b:
            state_b = await joined(tab_b)
            a1, b1 = state_b["u1"]["metas"]
            assert a1 == state_a["u1"]["metas"][0]
            clock.advance(endpoint.presence.interval)
            assert await diff(tab_a) == {"joins": {"u1": {"metas": [b1]}}, "leaves": {}}
        clock.advance(endpoint.presence.interval)
        assert await diff(tab_a) == {"joins": {}, "leaves": {"u1": {"metas": [b1]}}}
        assert endpoint.presence.list(LOBBY) == {"u1": {"metas": [a1]}}


async def test_update_is_one_diff_with_prev(endpoint: Endpoint, clock: FakeClock) -> None:
    async with member(endpoint, "u1") as a:
        await joined(a)
        first = await diff(a)
        old = first["joins"]["u1"]["metas"][0]
        channel = a.session.channels[LOBBY].channel
        new_ref = await endpoint.presence.update(channel, "u1", {"status": "away"})
        clock.advance(endpoint.presence.interval)
        assert await diff(a) == {
            "joins": {
                "u1": {
                    "metas": [
                        {"status": "away", "phx_ref": new_ref, "phx_ref_prev": old["phx_ref"]}
                    ]
                }
            },
            "leaves": {"u1": {"metas": [old]}},
        }


async def test_leave_crash_and_duplicate_join_remove_entries(
    endpoint: Endpoint, clock: FakeClock
) -> None:
    presence = endpoint.presence
    async with member(endpoint, "watcher") as watcher, member(endpoint, "u2") as other:
        await joined(watcher)
        await joined(other)
        assert set(presence.list(LOBBY)) == {"watcher", "u2"}
        # crash
        await other.push(LOBBY, "crash")
        await other.assert_push(LOBBY, "phx_error")
        await asyncio.sleep(0)
        assert set(presence.list(LOBBY)) == {"watcher"}
        # rejoin, then a duplicate join: the old channel's entry leaves, the new one joins
        first = await joined(other)
        old_ref = refs(first, "u2")[0]
        second = await joined(other)
        assert refs(second, "u2") != [old_ref] and len(refs(second, "u2")) == 1
        # leave
        await other.leave(LOBBY)
        assert set(presence.list(LOBBY)) == {"watcher"}
        clock.advance(presence.interval)
        # The watcher's replica, fed every diff, agrees.
        replica = ClientPresence()
        replica.on_state(await joined(watcher, "room:lobby"))
        assert replica.state == presence.list(LOBBY)


async def test_dropped_connection_removes_entries(endpoint: Endpoint) -> None:
    async with member(endpoint, "u1"):
        pass
    async with member(endpoint, "u2") as gone:
        await joined(gone)
        await gone.close()
    assert endpoint.presence.list(LOBBY) == {}


async def test_a_burst_of_joins_is_one_diff(endpoint: Endpoint, clock: FakeClock) -> None:
    """50 members join while the topic's flush interval runs: one diff carries them all,
    instead of 50 broadcasts to every member."""
    presence = endpoint.presence
    async with contextlib.AsyncExitStack() as stack:
        watcher = await stack.enter_async_context(member(endpoint, "watcher"))
        await joined(watcher)
        await diff(watcher)  # the first change in a quiet topic goes out at once
        crowd = [await stack.enter_async_context(member(endpoint, f"u{n}")) for n in range(50)]
        states = await asyncio.gather(*(joined(c) for c in crowd))
        assert len(states[-1]) == 51
        before = presence.stats.diffs
        clock.advance(presence.interval)
        burst = await diff(watcher)
        assert set(burst["joins"]) == {f"u{n}" for n in range(50)}
        await watcher.refute_push(LOBBY, "presence_diff")
        assert presence.stats.diffs == before + 1
        # Every crowd member ends with the full list: its state, then the merged diff.
        for client, state in zip(crowd, states, strict=True):
            replica = ClientPresence()
            replica.on_state(state)
            replica.on_diff(await diff(client))
            assert replica.state == presence.list(LOBBY)


async def test_a_meta_that_joins_and_leaves_in_one_batch(
    endpoint: Endpoint, clock: FakeClock
) -> None:
    """Nobody hears of it, except a client whose presence_state included it: it must hear
    it leave, or it would show a ghost forever."""
    presence = endpoint.presence
    async with member(endpoint, "watcher") as watcher:
        await joined(watcher)
        await diff(watcher)
        async with member(endpoint, "ghost") as ghost, member(endpoint, "late") as late:
            await joined(ghost)
            late_state = await joined(late)  # taken while the ghost's join is pending
            assert "ghost" in late_state
            await ghost.close()
            clock.advance(presence.interval)
            merged = await diff(watcher)
            assert "ghost" not in merged["joins"]
            assert list(merged["leaves"]) == ["ghost"]
            replica = ClientPresence()
            replica.on_state(late_state)
            replica.on_diff(await diff(late))
            assert replica.state == presence.list(LOBBY)
            assert "ghost" not in replica.state


async def test_tracking_by_topic_and_errors(endpoint: Endpoint, clock: FakeClock) -> None:
    presence = endpoint.presence
    ref = await presence.track("room:lobby", "system", {"bot": True})
    assert presence.get("room:lobby", "system") == [{"bot": True, "phx_ref": ref}]
    with pytest.raises(PresenceError):
        await presence.track("room:lobby", "system", {})
    await presence.untrack("room:lobby", "system")
    assert presence.list("room:lobby") == {}
    async with member(endpoint, "u1") as a:
        await joined(a)
        channel: Channel = a.session.channels[LOBBY].channel
    with pytest.raises(PresenceError):  # the channel is gone: it could never be untracked
        await presence.track(channel, "u1", {})


async def test_presence_interval_is_the_endpoints(clock: FakeClock) -> None:
    endpoint = Endpoint(clock=clock, presence_interval=0)
    presence = endpoint.presence
    assert presence.interval == 0 and endpoint.presence is presence
    async with member(endpoint, "u1") as a, member(endpoint, "u2") as b:
        await joined(a)
        await diff(a)
        await joined(b)
        assert list((await diff(a))["joins"]) == ["u2"]  # no clock advance needed


async def test_a_diff_hook_may_drop_a_topics_diffs(endpoint: Endpoint, clock: FakeClock) -> None:
    """An application can replace a topic's diffs with something else (a count, say)."""
    presence = presence_of(endpoint)
    seen: list[tuple[str, list[str]]] = []

    async def on_diff(topic: str, diff: Any) -> bool:
        seen.append((topic, sorted(diff.joins)))
        if topic != LOBBY:
            return True
        await endpoint.broadcast(topic, "presence_count", {"online": presence.count(topic)})
        return False

    presence.on_diff = on_diff
    async with member(endpoint, "u1") as a, member(endpoint, "u2") as b:
        await joined(a)
        assert (await a.assert_push(LOBBY, "presence_count")).payload == {"online": 1}
        clock.advance(1)
        await joined(b)
        assert (await a.assert_push(LOBBY, "presence_count")).payload == {"online": 2}
        await a.refute_push(LOBBY, "presence_diff")
        assert (await joined(a, "room:other")) is not None
        await diff(a, "room:other")  # other topics keep their diffs
    assert seen[:2] == [(LOBBY, ["u1"]), (LOBBY, ["u2"])]
    assert presence.count(LOBBY) == 0
