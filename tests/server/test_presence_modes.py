"""A big room counts its members instead of listing them to everyone, as phoenix.js's own
``Presence`` sees it: a room past the limit switches every member to its own entries and
counts, joiners in count mode get only themselves, and a room that shrank lists again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from server.chat.alarm import SteppingClock
from server.config import Settings
from tests.phoenixjs import Client, PhoenixJS, phoenixjs
from tests.server.api_client import Api, Session
from tests.server.chat_support import (
    TOKEN_TTL,
    AiohttpClient,
    World,
    assert_presence_readable,
    build_app,
    presence_frames,
)
from tests.server.conftest import START

__all__ = ["phoenixjs"]

LIMIT = 2
"""Count mode above two members online; back to the list at one."""


async def world_with_limit(aiohttp_client: AiohttpClient, settings: Settings, limit: int) -> World:
    settings = replace(settings, token_ttl_seconds=TOKEN_TTL, presence_list_limit=limit)
    clock = SteppingClock(START)
    client = await aiohttp_client(build_app(settings, clock))
    world = World(Api(client), client, clock)
    world.chat.context.presence.count_interval = 0.01  # (the default is a second)
    return world


@pytest.fixture
async def small_world(aiohttp_client: AiohttpClient, settings: Settings) -> AsyncIterator[World]:
    yield await world_with_limit(aiohttp_client, settings, LIMIT)


async def enter(
    world: World, js: PhoenixJS, event: dict[str, Any], name: str
) -> tuple[Session, Client, dict[str, Any]]:
    user = await world.api.sign_up(name)
    ticket = await world.api.create_ticket(event["id"])
    await world.api.assign(ticket["id"], user.id)
    client = await js.connect(world.url, params={"token": user.token})
    joined = await client.join(f"event:{event['id']}", {}, presence=True)
    assert joined["status"] == "ok", joined
    return user, client, joined["response"]


def listing(*users: Session) -> Any:
    keys = {user.id for user in users}
    return lambda e: set(e["list"]) == keys


async def test_members_get_a_count_instead_of_the_list_above_the_limit(
    small_world: World, phoenixjs: PhoenixJS
) -> None:
    world = small_world
    event = await world.event()
    topic = f"event:{event['id']}"
    alice, a, joined = await enter(world, phoenixjs, event, "alice")
    assert (joined["presence"], joined["online"]) == ("list", 1)
    bob, b, joined = await enter(world, phoenixjs, event, "bob")
    assert (joined["presence"], joined["online"]) == ("list", 2)
    for client in (a, b):
        await client.expect(listing(alice, bob), event="presence_sync")

    # A third member: past the limit. Every member's Presence now lists only itself, and
    # the room's count comes as presence_count.
    carol, c, _ = await enter(world, phoenixjs, event, "carol")
    for client, user in ((a, alice), (b, bob), (c, carol)):
        mode = await client.expect(event="message", topic=topic, name="presence_mode")
        assert mode["payload"] == {"mode": "count"}
        await client.expect(listing(user), event="presence_sync")
        await client.expect(
            lambda e: e["payload"] == {"online": 3}, event="message", name="presence_count"
        )

    # A joiner in count mode starts from its own entries; nobody gets a diff of it.
    mark = phoenixjs.mark()
    dave, d, joined = await enter(world, phoenixjs, event, "dave")
    assert (joined["presence"], joined["online"]) == ("count", 4)
    await d.expect(listing(dave), event="presence_sync")
    for client in (a, b, c, d):
        await client.expect(
            lambda e: e["payload"] == {"online": 4}, event="message", name="presence_count"
        )
    assert not phoenixjs.events_since(mark, event="message", name="presence_diff")

    # People leave: counts go down; at half the limit the room lists again.
    await d.leave(topic)
    await c.leave(topic)
    await a.expect(lambda e: e["payload"] == {"online": 2}, event="message", name="presence_count")
    mark = phoenixjs.mark()
    await b.leave(topic)
    mode = await a.expect(event="message", topic=topic, name="presence_mode", since=mark)
    assert mode["payload"] == {"mode": "list"}
    await a.expect(listing(alice), event="presence_sync", since=mark)
    # And diffs again, as in any room.
    erin, e, _ = await enter(world, phoenixjs, event, "erin")
    await a.expect(listing(alice, erin), event="presence_sync")
    await e.expect(listing(alice, erin), event="presence_sync")


async def test_presence_mode_comes_before_what_it_describes(
    aiohttp_client: AiohttpClient, settings: Settings, phoenixjs: PhoenixJS
) -> None:
    """Whatever members are doing meanwhile, each hears ``presence_mode`` before the
    ``presence_state`` and ``presence_count`` it describes: a joiner in count mode first of
    all; at each switch, the mode and then the state, before any count (count mode) or diff
    (list mode)."""
    world = await world_with_limit(aiohttp_client, settings, 4)  # lists again at 2
    event = await world.event()
    topic = f"event:{event['id']}"
    members: list[tuple[Session, Client, dict[str, Any], int]] = []

    async def join(name: str) -> Client:
        mark = phoenixjs.mark()
        user, client, joined = await enter(world, phoenixjs, event, name)
        members.append((user, client, joined, mark))
        return client

    async def counted(online: int, clients: list[Client]) -> None:
        for client in clients:
            await client.expect(
                lambda e: e["payload"] == {"online": online}, event="message",
                name="presence_count",
            )  # fmt: skip

    clients = [await join(name) for name in ("ann", "ben", "cem", "dag")]
    for client in clients:
        await client.expect(lambda e: len(e["list"]) == 4, event="presence_sync")
    # Busy members: their channels are handling history requests as the room switches.
    for client in clients:
        await client.push_nowait(topic, "history", {})
    clients.append(await join("eda"))  # past the limit: counted
    await counted(5, clients)
    clients.append(await join("fil"))  # a joiner in count mode
    await counted(6, clients)
    for client in clients[2:]:
        await client.push_nowait(topic, "history", {})
    mark = phoenixjs.mark()
    for client in reversed(clients[2:]):
        await client.leave(topic)
    ann, ben = members[0][0], members[1][0]
    for client in clients[:2]:
        await client.expect(listing(ann, ben), event="presence_sync", since=mark)
    gul, _, _ = await enter(world, phoenixjs, event, "gul")  # diffs again
    for client in clients[:2]:
        await client.expect(listing(ann, ben, gul), event="presence_sync")

    for user, client, joined, mark in members:
        frames = presence_frames(client, topic, since=mark)
        assert_presence_readable(frames, joined["presence"], user.id, joined=True)
    assert [m[2]["presence"] for m in members] == ["list"] * 4 + ["list", "count"]
    ann_frames = presence_frames(clients[0], topic)
    modes = [payload["mode"] for name, payload in ann_frames if name == "presence_mode"]
    assert modes == ["count", "list"]
