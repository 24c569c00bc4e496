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
from tests.server.chat_support import TOKEN_TTL, AiohttpClient, World, build_app
from tests.server.conftest import START

__all__ = ["phoenixjs"]

LIMIT = 2
"""Count mode above two members online; back to the list at one."""


@pytest.fixture
async def small_world(aiohttp_client: AiohttpClient, settings: Settings) -> AsyncIterator[World]:
    settings = replace(settings, token_ttl_seconds=TOKEN_TTL, presence_list_limit=LIMIT)
    clock = SteppingClock(START)
    client = await aiohttp_client(build_app(settings, clock))
    world = World(Api(client), client, clock)
    world.chat.context.presence.count_interval = 0.01  # (the default is a second)
    yield world


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
