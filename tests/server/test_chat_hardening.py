"""What one free account could do to the chat, and what stops it."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from phxpy.errors import ConnectRefused
from server.chat.guessing import FIRST_WAIT, FREE_FAILURES_PER_USER
from server.chat.payloads import MAX_REPLY_BYTES
from server.config import Settings
from tests.phoenixjs import PhoenixJS, phoenixjs
from tests.server.chat_support import (
    OPENS,
    AiohttpClient,
    World,
    build_app,
    stepping_clock,
    world,
)

__all__ = ["phoenixjs", "stepping_clock", "world"]


async def test_a_topic_names_its_room_one_way_only(world: World) -> None:
    """An alias of the event's id would be a topic of its own, a shadow room the real one
    never hears: only the canonical form joins."""
    event = await world.event()
    fan = await world.api.holder(event["id"])
    raw = uuid.UUID(event["id"])
    aliases = [
        str(raw).upper(),
        raw.hex,
        "{" + str(raw) + "}",
        raw.urn,
        f" {raw}",
    ]
    async with world.socket(fan) as client:
        for alias in aliases:
            reply = await client.join(f"event:{alias}", {})
            assert (reply.status, reply.response) == ("error", {"reason": "event not found"})
        for alias in (fan.id.upper(), uuid.UUID(fan.id).hex):
            reply = await client.join(f"user:{alias}", {})
            assert (reply.status, reply.response) == ("error", {"reason": "unauthorized"})
        assert (await client.join(f"event:{event['id']}", {})).status == "ok"


async def test_messages_hold_no_control_characters_but_tabs_and_newlines(world: World) -> None:
    async with world.open_room(1) as (topic, [client]):
        for content in ("\x01" * 10, "bell\x07", "del\x7f", "c1\x85"):
            ref = await client.push(topic, "new_message", {"content": content})
            reply = await client.assert_reply(ref, "error")
            assert reply.response == {"reason": "invalid content"}
        ref = await client.push(topic, "new_message", {"content": "two\nlines\tand a tab"})
        reply = await client.assert_reply(ref, "ok")
        assert reply.response["message"]["content"] == "two\nlines\tand a tab"


async def test_a_heavy_history_still_lets_a_longpoll_client_catch_up(
    world: World, phoenixjs: PhoenixJS
) -> None:
    """Long messages of characters that JSON escapes: a catch-up of 200 of them would be
    megabytes in one frame; it comes in pages of at most MAX_REPLY_BYTES instead."""
    event = await world.event()
    fan = await world.api.sign_up()
    number = await world.ticket(event["id"])
    await world.move_to(OPENS)
    heavy = ['"\\' * 2000] * 200  # 4,000 characters, 8,000 bytes each once escaped
    room_id = event["chat_room"]["id"]
    await world.api.post_messages(room_id, fan, heavy, world.clock.now())
    client = await phoenixjs.connect(world.url, transport="longpoll", params={"token": fan.token})
    topic = f"event:{event['id']}"
    joined = await client.join(topic, {"ticket_number": number, "after_seq": 0})
    assert joined["status"] == "ok", joined
    page = joined["response"]["messages"]
    assert joined["response"]["more"] is True
    assert 0 < len(page) < 200
    assert len(str(page).encode()) < 2 * MAX_REPLY_BYTES
    assert [m["seq"] for m in page] == list(range(201 - len(page), 201))
    # Paging back reaches the first message; every page fits.
    seen = {m["seq"] for m in page}
    before = page[0]["seq"]
    while before > 1:
        reply = await client.push(topic, "history", {"before": before, "limit": 100})
        assert reply["status"] == "ok", reply
        older = reply["response"]["messages"]
        assert older and older[-1]["seq"] == before - 1
        seen |= {m["seq"] for m in older}
        before = older[0]["seq"]
    assert seen == set(range(1, 201))


async def test_ticket_numbers_cannot_be_guessed_by_trying(world: World) -> None:
    event = await world.event()
    guesser, fan, other = [await world.api.sign_up() for _ in range(3)]
    real = await world.ticket(event["id"])
    topic = f"event:{event['id']}"
    async with world.socket(guesser) as client:
        for n in range(FREE_FAILURES_PER_USER):
            reply = await client.join(topic, {"ticket_number": f"guess-{n}"})
            assert reply.response == {"reason": "invalid ticket"}
        # From now on every attempt waits, even with the right number.
        reply = await client.join(topic, {"ticket_number": real})
        assert reply.status == "error"
        assert reply.response["reason"] == "too many attempts"
        assert reply.response["retry_after"] >= 1
    # Someone else is not held back by it.
    async with world.socket(fan) as client:
        assert (await client.join(topic, {"ticket_number": "my typo"})).status == "error"
    # Once the wait is over the guesser may try again — and the wait doubles after a failure.
    world.clock.advance(FIRST_WAIT)
    async with world.socket(guesser) as client:
        assert (await client.join(topic, {"ticket_number": "guess-again"})).status == "error"
        world.clock.advance(FIRST_WAIT)
        reply = await client.join(topic, {"ticket_number": "guess-again"})
        assert reply.response["reason"] == "too many attempts"
        world.clock.advance(FIRST_WAIT)
        other_ticket = await world.ticket(event["id"])
        assert (await client.join(topic, {"ticket_number": other_ticket})).status == "ok"
    async with world.socket(other) as client:
        assert (await client.join(topic, {"ticket_number": real})).status == "ok"


async def test_one_user_holds_a_bounded_number_of_connections(
    aiohttp_client: AiohttpClient, settings: Settings, stepping_clock: Any
) -> None:
    client = await aiohttp_client(
        build_app(replace(settings, chat_sockets_per_user=3), stepping_clock)
    )
    from tests.server.api_client import Api
    from tests.server.chat_support import World

    world = World(Api(client), client, stepping_clock)
    fan, other = await world.api.sign_up(), await world.api.sign_up()
    async with AsyncExitStack() as stack:
        for _ in range(3):
            await stack.enter_async_context(world.socket(fan))
        with pytest.raises(ConnectRefused) as refused:
            await stack.enter_async_context(world.socket(fan))
        assert refused.value.status == 429
        # Over the network too, and only for that user.
        async with aiohttp.ClientSession() as http:
            url = str(client.make_url(f"/socket/websocket?vsn=2.0.0&token={fan.token}"))
            with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
                await http.ws_connect(url)
            assert handshake.value.status == 429
            ok = str(client.make_url(f"/socket/websocket?vsn=2.0.0&token={other.token}"))
            ws = await http.ws_connect(ok)
            await ws.close()
    # The connections are gone: a new one is welcome.
    async with world.socket(fan) as again:
        assert (await again.join(f"user:{fan.id}")).status == "ok"
