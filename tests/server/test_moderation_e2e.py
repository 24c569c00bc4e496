"""The organisers' moderation as members see it, with the real phoenix.js clients: an
announcement, a hidden message, a mute, slow mode and a removal, each ordered over REST with
the service key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from server.chat.alarm import SteppingClock
from server.config import Settings, WebhookSettings
from tests.phoenixjs import Client, PhoenixJS, phoenixjs
from tests.server.api_client import Api, Session, snapshot
from tests.server.chat_support import (
    OPENS,
    TOKEN_TTL,
    AiohttpClient,
    World,
    build_app,
    stepping_clock,
    world,
)

__all__ = ["phoenixjs", "stepping_clock", "world"]


class Webhook:
    """The operator's webhook: acknowledges and keeps every notification it is sent."""

    def __init__(self) -> None:
        self.received: dict[str, dict[str, Any]] = {}
        self.changed = asyncio.Condition()

    async def handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        async with self.changed:
            self.received[request.headers["Idempotency-Key"]] = body
            self.changed.notify_all()
        return web.Response()

    async def kinds(self, count: int) -> list[str]:
        """The kinds of the first ``count`` notifications received, in order of arrival."""
        async with asyncio.timeout(5), self.changed:
            await self.changed.wait_for(lambda: len(self.received) >= count)
        return [body["kind"] for body in self.received.values()]


@pytest.fixture
async def webhook() -> Webhook:
    return Webhook()


@pytest.fixture
async def webhook_world(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    stepping_clock: SteppingClock,
    webhook: Webhook,
) -> AsyncIterator[World]:
    """The chat with a webhook configured."""
    receiver_app = web.Application()
    receiver_app.router.add_post("/hook", webhook.handle)
    receiver = await aiohttp_client(receiver_app)
    hook = WebhookSettings(url=str(receiver.make_url("/hook")), secret="s" * 32)
    settings = replace(settings, token_ttl_seconds=TOKEN_TTL, webhook=hook)
    client = await aiohttp_client(build_app(settings, stepping_clock))
    yield World(Api(client), client, stepping_clock)


@dataclass
class Member:
    user: Session
    client: Client


@dataclass
class Room:
    event: dict[str, Any]
    topic: str
    members: dict[str, Member]

    @property
    def path(self) -> str:
        return f"/api/events/{self.event['id']}"


async def open_room(world: World, phoenixjs: PhoenixJS, *names: str) -> Room:
    """An open room with members joined through phoenix.js (1.8 and 1.7 alternately)."""
    event = await world.event(name="Concert")
    await world.move_to(OPENS)
    topic = f"event:{event['id']}"
    members = {}
    for n, name in enumerate(names):
        user = await world.api.sign_up(name)
        ticket = await world.api.create_ticket(event["id"])
        await world.api.assign(ticket["id"], user.id)
        version = ("1.8", "1.7")[n % 2]
        client = await phoenixjs.connect(world.url, version=version, params={"token": user.token})
        joined = await client.join(topic, {}, presence=True)
        assert joined["status"] == "ok", joined
        members[name] = Member(user, client)
    return Room(event, topic, members)


async def post(member: Member, topic: str, content: str) -> dict[str, Any]:
    reply = await member.client.push(topic, "new_message", {"content": content})
    return dict(reply)


async def moderate(world: World, room: Room, action: str, body: dict[str, Any]) -> Any:
    answer = await world.api.post(
        f"{room.path}/moderation/{action}", body, service=True, expected=200
    )
    return answer["data"]


async def test_an_announcement_and_a_hidden_message(world: World, phoenixjs: PhoenixJS) -> None:
    room = await open_room(world, phoenixjs, "alice", "bob", "carol")
    alice, bob, carol = room.members.values()
    spam = await post(alice, room.topic, "buy cheap tickets at example.com")
    assert spam["status"] == "ok"
    spam_message = spam["response"]["message"]

    # The organisers announce: a message with the next seq, from the organiser, to everyone.
    body = {"content": "Doors open at 19:00", "actor": "Staff", "client_id": "doors"}
    created = await world.api.post(f"{room.path}/announcements", body, service=True, expected=201)
    announcement = created["data"]
    assert announcement["author_role"] == "organiser"
    assert (announcement["user_id"], announcement["username"]) == (None, "Staff")
    assert (announcement["seq"], announcement["content"]) == (2, "Doors open at 19:00")
    for member in room.members.values():
        got = await member.client.expect(
            lambda e: e["payload"]["seq"] == 2, event="message", topic=room.topic,
            name="new_message",
        )  # fmt: skip
        assert got["payload"] == announcement
    # A retry of the same announcement is answered with it, and not posted again.
    retried = phoenixjs.mark()
    again = await world.api.post(f"{room.path}/announcements", body, service=True, expected=200)
    assert again["data"] == announcement

    # The organisers hide the spam: every member is told, with its seq.
    result = await moderate(world, room, "hide", {"message_id": spam_message["id"]})
    assert result["changed"] is True
    assert [h["seq"] for h in result["moderation"]["hidden_messages"]] == [1]
    for member in room.members.values():
        hidden = await member.client.expect(
            event="message", topic=room.topic, name="message_hidden"
        )
        assert hidden["payload"] == {"id": spam_message["id"], "seq": 1}
    # Hiding it again changes nothing and tells nobody.
    assert (await moderate(world, room, "hide", {"message_id": spam_message["id"]}))[
        "changed"
    ] is False
    mark = phoenixjs.mark()
    await post(bob, room.topic, "thanks")  # a round trip: anything sent before it is here
    await carol.client.expect(event="message", topic=room.topic, name="new_message", since=mark)
    assert not carol.client.events_since(mark, event="message", name="message_hidden")
    assert [
        e["payload"]["seq"]
        for e in carol.client.events_since(retried, event="message", name="new_message")
    ] == [3]

    # History, over the socket and over REST, keeps its seq without its content.
    history = await carol.client.push(room.topic, "history", {})
    first = history["response"]["messages"][0]
    assert (first["seq"], first["hidden"], first["content"]) == (1, True, "")
    rest = await world.api.get(f"{room.path}/messages", token=carol.user.token, expected=200)
    assert [(m["seq"], m["hidden"], m["content"]) for m in rest["data"]] == [
        (1, True, ""),
        (2, False, "Doors open at 19:00"),
        (3, False, "thanks"),
    ]
    # A member coming back learns which of the messages it kept are hidden.
    await carol.client.leave(room.topic)
    rejoined = await carol.client.join(room.topic, {"after_seq": 3})
    assert rejoined["response"]["hidden_seqs"] == [1]

    # The audit log: who did what, newest first.
    log = await world.api.get(f"{room.path}/moderation/log", service=True, expected=200)
    assert [(e["version"], e["action"], e["actor"]) for e in log["data"]] == [
        (2, "hide", "organiser"),
        (1, "announce", "Staff"),
    ]
    assert log["data"][0]["message_id"] == spam_message["id"]


async def test_hiding_refuses_bad_input_and_changes_nothing(
    world: World, phoenixjs: PhoenixJS
) -> None:
    room = await open_room(world, phoenixjs, "alice")
    (alice,) = room.members.values()
    other = await open_room(world, phoenixjs, "dora")
    (dora,) = other.members.values()
    elsewhere = (await post(dora, other.topic, "in another room"))["response"]["message"]
    before = await snapshot(world.api)
    cases = [
        ({"message_id": elsewhere["id"]}, "message_id"),  # a message of another room
        ({"message_id": "7b0e0f5e-0000-4000-8000-000000000000"}, "message_id"),  # unknown
        ({"message_id": "not an id"}, "message_id"),
        ({}, "message_id"),
        ({"message_id": elsewhere["id"], "actor": ""}, "actor"),
        ({"message_id": elsewhere["id"], "reason": 7}, "reason"),
    ]
    for body, field in cases:
        answer = await world.api.post(
            f"{room.path}/moderation/hide", body, service=True, expected=422
        )
        assert field in answer["errors"], (body, answer)
    await world.api.post(
        "/api/events/7b0e0f5e-0000-4000-8000-000000000000/moderation/hide",
        {"message_id": elsewhere["id"]},
        service=True,
        expected=404,
    )
    # Only the reservation system moderates.
    await world.api.post(
        f"{room.path}/moderation/hide",
        {"message_id": elsewhere["id"]},
        token=alice.user.token,
        expected=403,
    )
    assert await snapshot(world.api) == before


async def test_a_muted_member_gets_the_error_until_the_mute_ends(
    world: World, phoenixjs: PhoenixJS
) -> None:
    room = await open_room(world, phoenixjs, "alice", "bob")
    alice, bob = room.members.values()
    result = await moderate(
        world, room, "mute", {"user_id": bob.user.id, "duration_seconds": 600, "reason": "calm"}
    )
    until = (world.clock.now() + timedelta(seconds=600)).isoformat()
    assert [(m["user_id"], m["until"]) for m in result["moderation"]["mutes"]] == [
        (bob.user.id, until)
    ]
    told = await bob.client.expect(event="message", topic=room.topic, name="muted")
    assert told["payload"] == {"until": until}
    refused = await post(bob, room.topic, "but why")
    assert (refused["status"], refused["response"]) == (
        "error",
        {"reason": "muted", "until": until, "retry_after": 600},
    )
    assert (await post(alice, room.topic, "I can talk"))["status"] == "ok"
    assert not alice.client.events_since(0, event="message", name="muted")
    assert await world.api.value("SELECT count(*) FROM messages") == 1

    # A mute runs out by itself.
    world.clock.advance(timedelta(seconds=601))
    assert (await post(bob, room.topic, "back"))["status"] == "ok"

    # Muted again, then unmuted before it ends.
    await moderate(world, room, "mute", {"user_id": bob.user.id, "duration_seconds": 60})
    assert (await post(bob, room.topic, "hm"))["response"]["reason"] == "muted"
    assert (await moderate(world, room, "unmute", {"user_id": bob.user.id}))["changed"] is True
    await bob.client.expect(event="message", topic=room.topic, name="unmuted")
    assert (await moderate(world, room, "unmute", {"user_id": bob.user.id}))["changed"] is False
    assert (await post(bob, room.topic, "thanks"))["status"] == "ok"

    # A mute with an end time is idempotent: asking again changes and logs nothing.
    end = (world.clock.now() + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert (await moderate(world, room, "mute", {"user_id": bob.user.id, "until": end}))[
        "changed"
    ] is True
    assert (await moderate(world, room, "mute", {"user_id": bob.user.id, "until": end}))[
        "changed"
    ] is False
    log = await world.api.get(f"{room.path}/moderation/log", service=True, expected=200)
    assert [e["action"] for e in log["data"]] == ["mute", "unmute", "mute", "mute"]
    assert log["data"][-1]["details"] == {"until": until, "seconds": 600, "reason": "calm"}


async def test_a_refused_post_says_a_time_after_which_the_next_one_goes_through(
    world: World, phoenixjs: PhoenixJS
) -> None:
    """Times are told in whole seconds; a mute that ends within a second is told rounded up,
    with ``retry_after`` rounded up too, as slow mode's refusal is: a member who waits for
    either is let through, never refused once more."""
    room = await open_room(world, phoenixjs, "alice", "bob")
    alice, bob = room.members.values()
    world.clock.advance(timedelta(milliseconds=250))
    ends = world.clock.now() + timedelta(seconds=60)  # hh:mm:ss.25
    told_end = (ends.replace(microsecond=0) + timedelta(seconds=1)).isoformat()
    result = await moderate(world, room, "mute", {"user_id": bob.user.id, "duration_seconds": 60})
    assert [m["until"] for m in result["moderation"]["mutes"]] == [told_end]
    told = await bob.client.expect(event="message", topic=room.topic, name="muted")
    assert told["payload"] == {"until": told_end}
    refused = await post(bob, room.topic, "now?")
    assert refused["response"] == {"reason": "muted", "until": told_end, "retry_after": 60}
    # A quarter of a second before the end: still a whole second to wait, not none.
    world.clock.set(ends - timedelta(milliseconds=250))
    refused = await post(bob, room.topic, "now?")
    assert refused["response"] == {"reason": "muted", "until": told_end, "retry_after": 1}
    await bob.client.leave(room.topic)
    rejoined = await bob.client.join(room.topic, {})
    assert rejoined["response"]["muted_until"] == told_end
    # At the time told (not a second later): let through.
    world.clock.set(datetime.fromisoformat(told_end))
    assert (await post(bob, room.topic, "now"))["status"] == "ok"

    # Slow mode's refusal has the same shape, and waiting retry_after is enough too.
    await moderate(world, room, "slow_mode", {"seconds": 30})
    assert (await post(alice, room.topic, "one"))["status"] == "ok"
    world.clock.advance(timedelta(seconds=29, milliseconds=500))
    refused = await post(alice, room.topic, "two")
    next_turn = (world.clock.now() + timedelta(seconds=1)).replace(microsecond=0)
    assert refused["response"] == {
        "reason": "slow mode",
        "until": next_turn.isoformat(),
        "retry_after": 1,
    }
    world.clock.advance(timedelta(seconds=refused["response"]["retry_after"]))
    assert (await post(alice, room.topic, "two"))["status"] == "ok"


async def test_slow_mode_lets_each_member_post_once_per_interval(
    world: World, phoenixjs: PhoenixJS
) -> None:
    room = await open_room(world, phoenixjs, "alice", "bob")
    alice, bob = room.members.values()
    result = await moderate(world, room, "slow_mode", {"seconds": 30, "actor": "Stage manager"})
    assert result["moderation"]["slow_mode_seconds"] == 30
    for member in (alice, bob):
        told = await member.client.expect(event="message", topic=room.topic, name="slow_mode")
        assert told["payload"] == {"seconds": 30}
    assert (await post(alice, room.topic, "one"))["status"] == "ok"
    assert (await post(bob, room.topic, "mine"))["status"] == "ok"  # per member
    too_soon = await post(alice, room.topic, "two")
    next_turn = (world.clock.now() + timedelta(seconds=30)).isoformat()
    assert too_soon["response"] == {"reason": "slow mode", "until": next_turn, "retry_after": 30}
    world.clock.advance(timedelta(seconds=20))
    assert (await post(alice, room.topic, "two"))["response"]["retry_after"] == 10
    world.clock.advance(timedelta(seconds=10))
    assert (await post(alice, room.topic, "two"))["status"] == "ok"
    # A newcomer learns it from the join reply.
    await alice.client.leave(room.topic)
    rejoined = await alice.client.join(room.topic, {})
    assert rejoined["response"]["room"]["slow_mode_seconds"] == 30
    await moderate(world, room, "slow_mode", {"seconds": 0})
    assert (await post(alice, room.topic, "three"))["status"] == "ok"
    assert (await post(alice, room.topic, "four"))["status"] == "ok"


async def test_a_removed_member_is_closed_out_until_reinstated(
    world: World, phoenixjs: PhoenixJS
) -> None:
    room = await open_room(world, phoenixjs, "alice", "bob", "carol")
    alice, _bob, carol = room.members.values()
    await alice.client.expect(
        lambda e: set(e["list"]) == {m.user.id for m in room.members.values()},
        event="presence_sync",
    )
    result = await moderate(
        world, room, "remove", {"user_id": carol.user.id, "reason": "abusive", "actor": "Ayse"}
    )
    assert [(r["user_id"], r["reason"], r["actor"]) for r in result["moderation"]["removals"]] == [
        (carol.user.id, "abusive", "Ayse")
    ]
    # Carol's channel is told why, then closed (phx_close: phoenix.js does not rejoin).
    told = await carol.client.expect(event="message", topic=room.topic, name="removed")
    assert told["payload"] == {"reason": "abusive"}
    await carol.client.expect(event="channel_close", topic=room.topic)
    # The others see her leave, and nothing else.
    await alice.client.expect(event="presence_leave", key=carol.user.id)
    assert not alice.client.events_since(0, event="message", name="removed")
    assert (await post(alice, room.topic, "better now"))["status"] == "ok"

    # She cannot come back, nor read the room over REST; she is no participant any more.
    refused = await carol.client.join(room.topic, {})
    assert (refused["status"], refused["response"]) == ("error", {"reason": "removed"})
    await carol.client.leave(room.topic)  # (phoenix.js would keep retrying the join)
    await world.api.get(f"{room.path}/messages", token=carol.user.token, expected=403)
    await world.api.get(f"{room.path}/participants", token=carol.user.token, expected=403)
    listed = await world.api.get(f"{room.path}/participants", service=True, expected=200)
    assert carol.user.id not in [p["user_id"] for p in listed["data"]]
    # Removing her again changes nothing.
    again = await moderate(
        world, room, "remove", {"user_id": carol.user.id, "reason": "abusive", "actor": "Ayse"}
    )
    assert again["changed"] is False

    # Reinstated, she joins again.
    assert (await moderate(world, room, "reinstate", {"user_id": carol.user.id}))["changed"]
    back = await carol.client.join(room.topic, {})
    assert back["status"] == "ok", back
    assert [m["content"] for m in back["response"]["messages"]] == ["better now"]


async def test_a_removed_member_is_notified_and_so_is_their_reinstatement(
    webhook_world: World, phoenixjs: PhoenixJS, webhook: Webhook
) -> None:
    """A removal and a reinstatement reach the member on their own channel (their app may
    have the room closed), stored like every notification and sent to the webhook; once per
    action, none for an action that changed nothing."""
    world = webhook_world
    room = await open_room(world, phoenixjs, "alice", "carol")
    carol = room.members["carol"]
    mine = f"user:{carol.user.id}"
    assert (await carol.client.join(mine))["status"] == "ok"
    event_id = room.event["id"]

    await moderate(world, room, "remove", {"user_id": carol.user.id, "reason": "abusive"})
    told = await carol.client.expect(event="message", topic=mine, name="notification")
    removal = told["payload"]
    assert (removal["kind"], removal["event_id"], removal["status"]) == (
        "removed",
        event_id,
        "unread",
    )
    assert removal["message"] == "The organisers removed you from the chat for Concert: abusive"
    await carol.client.expect(event="channel_close", topic=room.topic)
    again = await moderate(world, room, "remove", {"user_id": carol.user.id, "reason": "abusive"})
    assert not again["changed"]

    assert (await moderate(world, room, "reinstate", {"user_id": carol.user.id}))["changed"]
    told = await carol.client.expect(
        lambda e: e["payload"]["kind"] == "reinstated",
        event="message",
        topic=mine,
        name="notification",
    )
    reinstated = told["payload"]
    assert (reinstated["event_id"], reinstated["message"]) == (
        event_id,
        "The organisers let you back into the chat for Concert",
    )
    # Told so, she may join at once.
    back = await carol.client.join(room.topic, {})
    assert back["status"] == "ok", back
    assert not (await moderate(world, room, "reinstate", {"user_id": carol.user.id}))["changed"]

    # Stored, once each, and only for her; and the webhook was sent each once.
    listed = await world.api.get("/api/notifications", token=carol.user.token, expected=200)
    assert sorted(n["id"] for n in listed["data"]) == sorted([removal["id"], reinstated["id"]])
    others = await world.api.get(
        "/api/notifications", token=room.members["alice"].user.token, expected=200
    )
    assert others["data"] == []
    assert await webhook.kinds(2) == ["removed", "reinstated"]
    assert set(webhook.received) == {removal["id"], reinstated["id"]}
    mark = phoenixjs.mark()
    await post(carol, room.topic, "thanks")  # a round trip: nothing more was pushed
    assert len(carol.client.events_since(0, event="message", name="notification")) == 2
    assert not carol.client.events_since(mark, event="message", name="notification")
