"""phoenix.js's own ``Presence`` class against the twin's presence (1.7 and 1.8 side by side,
WebSocket and LongPoll side by side): after every change, every client's
``Presence.list()`` is exactly the server's list — keys, metas, their order and refs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.phoenixjs import Client, MakeTwin, PhoenixJS, Twin

GOOD = {"token": "good-token"}
FAST = {"reconnectAfterMs": [10, 20, 50], "rejoinAfterMs": [10, 20, 50]}
LOBBY = "room:lobby"


def server_list(twin: Twin) -> dict[str, Any]:
    """The server's list in the driver's shape ``{key: metas}`` (read from the state, not
    through ``Presence.list``, which would count as a snapshot)."""
    return {key: entry["metas"] for key, entry in twin.endpoint.presence.state.list(LOBBY).items()}


def refs(metas: list[dict[str, Any]]) -> set[str]:
    return {meta["phx_ref"] for meta in metas}


def shaped(counts: dict[str, int], gone: set[str]) -> Callable[[dict[str, Any]], bool]:
    """A presence_sync whose list has ``counts`` metas per key and none of the ``gone``
    refs (entries that a crash or a drop replaced)."""

    def match(event: dict[str, Any]) -> bool:
        lst = event["list"]
        if {key: len(metas) for key, metas in lst.items()} != counts:
            return False
        return not any(refs(metas) & gone for metas in lst.values())

    return match


async def settled(
    twin: Twin,
    clients: list[Client],
    mark: int,
    counts: dict[str, int],
    gone: set[str] | None = None,
) -> dict[str, Any]:
    """Every client syncs to the expected shape; then all lists equal the server's."""
    for client in clients:
        await client.expect(shaped(counts, gone or set()), event="presence_sync", since=mark)
    expected = server_list(twin)
    assert {key: len(metas) for key, metas in expected.items()} == counts
    for client in clients:
        assert await client.presence_list(LOBBY) == expected, client
    return expected


async def test_presence_lists_are_exact_on_every_client(
    phoenixjs: PhoenixJS, make_twin: MakeTwin, phoenix_version: str
) -> None:
    twin = await make_twin(presence=True)
    version, other = phoenix_version, ("1.7" if phoenix_version == "1.8" else "1.8")

    async def member(user: str, version: str, transport: str) -> Client:
        client = await phoenixjs.connect(
            twin.url,
            version=version,
            params={**GOOD, "user": user},
            transport=transport,
            **FAST,
        )
        reply = await client.join(LOBBY, presence=True)
        assert reply["status"] == "ok"
        return client

    mark = phoenixjs.mark()
    alice_tab1 = await member("alice", version, "longpoll")
    alice_tab2 = await member("alice", other, "websocket")
    bob = await member("bob", version, "websocket")
    carol = await member("carol", other, "longpoll")
    everyone = [alice_tab1, alice_tab2, bob, carol]

    # Joins: alice has two metas (two tabs), in the order they joined.
    state = await settled(twin, everyone, mark, {"alice": 2, "bob": 1, "carol": 1})
    tab1_ref, tab2_ref = (meta["phx_ref"] for meta in state["alice"])
    assert alice_tab1.events_since(mark, event="presence_join", key="alice")  # onJoin fired

    # A tab closes: alice stays, with one meta.
    mark = phoenixjs.mark()
    await alice_tab2.forget()
    remaining = [alice_tab1, bob, carol]
    state = await settled(twin, remaining, mark, {"alice": 1, "bob": 1, "carol": 1})
    assert refs(state["alice"]) == {tab1_ref}
    left = await alice_tab1.expect(event="presence_leave", key="alice", since=mark)
    assert refs(left["metas"]) == {tab2_ref} and refs(left["current"]) == {tab1_ref}

    # A channel crash: carol's entry leaves; her rejoin tracks a new one.
    carol_ref = next(iter(refs(state["carol"])))
    mark = phoenixjs.mark()
    await carol.push_nowait(LOBBY, "crash", {}, timeout_ms=200)
    await carol.expect(event="channel_error", topic=LOBBY, since=mark)
    state = await settled(
        twin, remaining, mark, {"alice": 1, "bob": 1, "carol": 1}, gone={carol_ref}
    )

    # A dropped connection (WebSocket): bob reconnects and rejoins as a new entry.
    bob_ref = next(iter(refs(state["bob"])))
    mark = phoenixjs.mark()
    await twin.disconnect_user("bob")
    await bob.expect(event="close", code=1001, since=mark)
    state = await settled(twin, remaining, mark, {"alice": 1, "bob": 1, "carol": 1}, gone={bob_ref})

    # A dropped LongPoll session: alice's first tab comes back the same way.
    mark = phoenixjs.mark()
    await twin.disconnect_user("alice")
    state = await settled(
        twin, remaining, mark, {"alice": 1, "bob": 1, "carol": 1}, gone={tab1_ref}
    )

    # A leave: carol is gone for the others.
    mark = phoenixjs.mark()
    assert (await carol.leave(LOBBY))["status"] == "ok"
    await settled(twin, [alice_tab1, bob], mark, {"alice": 1, "bob": 1})
