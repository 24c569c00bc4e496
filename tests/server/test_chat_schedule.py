"""The rooms' schedule: opening with its notifications exactly once (two timers racing, a
restart in the middle), a moved event re-planned, a deleted event closing its room."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from phxpy import Endpoint
from server.chat.announce import Announcer
from server.chat.schedule import RoomScheduler
from server.keys import SETTINGS
from tests.server.chat_support import (
    EVENT_END,
    EVENT_START,
    OPENS,
    World,
    build_app,
    fmt,
    stepping_clock,
    world,
)
from tests.server.conftest import AiohttpClient

__all__ = ["stepping_clock", "world"]


async def room_row(world: World, room_id: str) -> Any:
    [row] = await world.api.rows("SELECT * FROM chat_rooms WHERE id = $1", room_id)
    return row


async def notification_count(world: World) -> int:
    return int(await world.api.value("SELECT count(*) FROM notifications"))


async def test_opening_notifies_each_holder_once_and_pushes_to_those_online(
    world: World,
) -> None:
    event = await world.event(name="Gala")
    online, offline = await world.api.sign_up(), await world.api.sign_up()
    await world.api.holder(event["id"])  # assigned a ticket, never joined: notified too
    async with world.socket(online) as client, world.socket(offline) as other:
        await world.member(client, event["id"], online)
        await world.member(other, event["id"], offline)
    async with world.socket(online) as client:
        await client.join(f"user:{online.id}")
        await world.move_to(OPENS - timedelta(seconds=1))
        assert (await room_row(world, event["chat_room"]["id"]))["status"] == "inactive"
        await world.move_to(OPENS)
        note = await client.assert_push(f"user:{online.id}", "notification")
        assert note.payload["message"] == "The chat for Gala is open"
        assert note.payload["kind"] == "room_opened"
        # Another pass, and a second timer racing it: nothing more.
        other_timer = RoomScheduler(world.clock, Announcer(world.chat.endpoint))
        await other_timer.start(world.api.db)
        try:
            assert await asyncio.gather(world.chat.scheduler.run_due(), other_timer.run_due()) == [
                0,
                0,
            ]
        finally:
            await other_timer.stop()
        await client.refute_push(f"user:{online.id}", "notification")
    assert await notification_count(world) == 3
    listed = await world.api.get("/api/notifications", token=offline.token, expected=200)
    assert [n["message"] for n in listed["data"]] == ["The chat for Gala is open"]


async def test_two_timers_racing_take_each_step_once(world: World) -> None:
    events = [await world.event(name=f"e{i}") for i in range(3)]
    for event in events:
        await world.api.holder(event["id"])
    await world.chat.scheduler.stop()  # only these passes race, no loop wakes up
    timers = [world.chat.scheduler] + [
        RoomScheduler(world.clock, Announcer(Endpoint())) for _ in range(3)
    ]
    for timer in timers[1:]:
        await timer.start(world.api.db)
        await timer.stop()
    world.clock.set(OPENS)
    taken = await asyncio.gather(*(timer.run_due() for timer in timers))
    assert sum(taken) == 3
    assert await notification_count(world) == 3
    world.clock.set(EVENT_END)
    assert sum(await asyncio.gather(*(timer.run_due() for timer in timers))) == 3
    for event in events:
        row = await room_row(world, event["chat_room"]["id"])
        assert (row["status"], row["activated_at"], row["archived_at"]) == (
            "archived",
            OPENS,
            EVENT_END,
        )


async def test_a_restart_in_the_middle_loses_and_repeats_nothing(
    world: World, aiohttp_client: AiohttpClient
) -> None:
    event = await world.event()
    fan = await world.api.holder(event["id"])
    room_id = event["chat_room"]["id"]
    await world.move_to(OPENS)
    assert (await room_row(world, room_id))["status"] == "active"
    app_settings = world.client.app[SETTINGS]
    await world.client.close()  # the node stops

    # Down while the event ends; a new node on the same database catches up at start.
    world.clock.set(EVENT_END + timedelta(minutes=5))
    client = await aiohttp_client(build_app(app_settings, world.clock))
    restarted = World(world.api.__class__(client), client, world.clock)
    row = await room_row(restarted, room_id)
    assert (row["status"], row["activated_at"], row["archived_at"]) == (
        "archived",
        OPENS,
        EVENT_END + timedelta(minutes=5),
    )
    assert await restarted.chat.scheduler.run_due() == 0
    assert await notification_count(restarted) == 1
    token = await restarted.sign_in(fan)
    room = await restarted.api.post(
        "/api/events/get_chat_room_by_id", {"event_id": event["id"]}, token=token, expected=200
    )
    assert room["data"]["status"] == "archived"


async def test_moving_the_event_replans_the_room(world: World) -> None:
    event = await world.event()
    fan = await world.api.sign_up()
    topic = f"event:{event['id']}"
    await world.move_to(OPENS)
    async with world.socket(fan) as client:
        await world.member(client, event["id"], fan)
        # Postponed by a day: the room closes again until two hours before the new start.
        later = EVENT_START + timedelta(days=1)
        await world.api.post(
            "/api/events/update_event",
            {
                "id": event["id"],
                "event": {"start_time": fmt(later), "end_time": fmt(later + timedelta(hours=3))},
            },
            service=True,
            expected=200,
        )
        await client.assert_push(topic, "room_status", {"status": "inactive"})
        ref = await client.push(topic, "new_message", {"content": "hi"})
        await client.assert_reply(ref, "error", {"reason": "room not active"})
        await world.move_to(later - timedelta(hours=2))
        await client.assert_push(topic, "room_status", {"status": "active"})
    # Opened twice, notified once (the opening's dedupe key is per room); plus the change.
    listed = await world.api.get("/api/notifications", token=fan.token, expected=200)
    kinds = sorted(n["kind"] for n in listed["data"])
    assert kinds == ["event_updated", "room_opened"]


async def test_deleting_the_event_closes_its_room(world: World) -> None:
    event = await world.event()
    alice, bob = await world.api.sign_up(), await world.api.sign_up()
    topic = f"event:{event['id']}"
    await world.move_to(OPENS)
    async with world.socket(alice) as a, world.socket(bob) as b:
        await world.member(a, event["id"], alice)
        await world.member(b, event["id"], bob)
        await world.api.delete(f"/api/events/{event['id']}", service=True, expected=204)
        for client in (a, b):
            await client.assert_push(topic, "room_status", {"status": "deleted"})
            await client.assert_push(topic, "phx_close")
        ref = await a.push(topic, "new_message", {"content": "anyone?"})
        await a.assert_reply(ref, "error", {"reason": "unmatched topic"})
        # The topic is gone for good: joining again is refused.
        reply = await a.join(topic, {})
        assert reply.response == {"reason": "event not found"}


async def test_an_event_created_inside_the_two_hours_opens_at_once(world: World) -> None:
    """Creating an event that starts within two hours: its room is active when the REST
    call returns, not at the schedule's next nap."""
    await world.move_to(OPENS + timedelta(minutes=30))
    event = await world.event(name="Soon")
    assert event["chat_room"]["status"] == "active"
    shown = await world.api.post(
        "/api/events/get_chat_room_by_id", {"event_id": event["id"]}, service=True, expected=200
    )
    assert shown["data"]["status"] == "active"


async def test_moving_an_event_answers_with_the_rooms_new_state(world: World) -> None:
    event = await world.event()
    assert event["chat_room"]["status"] == "inactive"
    moved = await world.api.post(
        "/api/events/update_event",
        {"id": event["id"], "event": {"start_time": fmt(world.clock.now() + timedelta(hours=1))}},
        service=True,
        expected=200,
    )
    assert moved["data"]["chat_room"]["status"] == "active"


async def test_cancelling_an_event_notifies_its_holders_and_the_notice_stays(
    world: World,
) -> None:
    event = await world.event(name="Gala")
    fan = await world.api.sign_up()
    await world.move_to(OPENS)
    async with world.socket(fan) as client:
        await world.member(client, event["id"], fan)
        await client.join(f"user:{fan.id}")
        await world.api.delete(f"/api/events/{event['id']}", service=True, expected=204)
        note = await client.assert_push(f"user:{fan.id}", "notification")
        assert (note.payload["kind"], note.payload["event_id"]) == ("event_cancelled", None)
    listed = await world.api.get("/api/notifications", token=fan.token, expected=200)
    assert [n["message"] for n in listed["data"]] == ["Gala has been cancelled"]
