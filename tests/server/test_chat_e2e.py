"""The whole flow, end to end, with the real phoenix.js clients (1.8 and 1.7) and a
clock the test moves: sign up, join by ticket, presence before the room opens, the opening
with its notifications, chatting, typing, scrolling back, a cut connection that catches up
on rejoin (``after_seq`` from a join params function), and the archive."""

from __future__ import annotations

from typing import Any

from tests.phoenixjs import Client, PhoenixJS, phoenixjs
from tests.server.chat_support import EVENT_END, OPENS, World, stepping_clock, world

__all__ = ["phoenixjs", "stepping_clock", "world"]


def seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [message["seq"] for message in messages]


async def post(client: Client, topic: str, content: str, **extra: Any) -> dict[str, Any]:
    reply = await client.push(topic, "new_message", {"content": content, **extra})
    assert reply["status"] == "ok", reply
    return dict(reply["response"]["message"])


async def test_the_event_chat_story(world: World, phoenixjs: PhoenixJS) -> None:
    # The reservation service: an event (its room is created inactive) and two tickets.
    event = await world.event(name="Concert")
    topic = f"event:{event['id']}"
    numbers = [await world.ticket(event["id"]) for _ in range(2)]
    # Two fans sign up; the reservation app assigns them their tickets.
    alice, bob = await world.api.sign_up("alice"), await world.api.sign_up("bob")
    tickets = await world.api.get(f"/api/events/{event['id']}", service=True, expected=200)
    assert tickets["data"]["chat_room"]["status"] == "inactive"

    # Each connects (1.8 with authToken, 1.7 with params.token as the fans' app does) and
    # joins.
    a = await phoenixjs.connect(world.url, version="1.8", auth_token=alice.token)
    b = await phoenixjs.connect(
        world.url, version="1.7", params={"token": bob.token}, reconnectAfterMs=[20]
    )
    for client, user in ((a, alice), (b, bob)):
        assert (await client.join(f"user:{user.id}"))["status"] == "ok"
    joined = await a.join(topic, {"ticket_number": numbers[0]}, presence=True)
    assert joined["status"] == "ok", joined
    assert joined["response"]["room"]["status"] == "inactive"
    joined = await b.join(
        topic, {"ticket_number": numbers[1]}, presence=True, dynamic_key="after_seq"
    )
    assert joined["status"] == "ok", joined

    # Presence shows both, before the room opens.
    await a.expect(lambda e: set(e["list"]) == {alice.id, bob.id}, event="presence_sync")
    listed = await b.expect(lambda e: set(e["list"]) == {alice.id, bob.id}, event="presence_sync")
    assert listed["list"][alice.id][0]["username"] == "alice"

    # No messaging yet.
    early = await a.push(topic, "new_message", {"content": "anyone?"})
    assert (early["status"], early["response"]) == ("error", {"reason": "room not active"})

    # Two hours before the start the room opens: status and a notification for each holder.
    world.clock.set(OPENS)
    for client, user in ((a, alice), (b, bob)):
        status = await client.expect(event="message", topic=topic, name="room_status")
        assert status["payload"] == {"status": "active"}
        note = await client.expect(event="message", topic=f"user:{user.id}", name="notification")
        assert note["payload"]["message"] == "The chat for Concert is open"
        stored = await world.api.get("/api/notifications", token=user.token, expected=200)
        assert [n["message"] for n in stored["data"]] == ["The chat for Concert is open"]

    # They chat and see each other typing.
    first = await post(a, topic, "hello bob", client_id="a-1")
    got = await b.expect(event="message", topic=topic, name="new_message")
    assert got["payload"] == first
    assert (await b.push(topic, "typing", {"typing": True}))["status"] == "ok"
    typing = await a.expect(event="message", topic=topic, name="typing")
    assert typing["payload"] == {"user_id": bob.id, "username": "bob", "typing": True}
    assert (await post(b, topic, "hi alice"))["seq"] == 2
    for i in range(3):
        last = await post(a, topic, f"more {i}")
    await b.expect(lambda e: e["payload"] == last, event="message", topic=topic)

    # Scrolling back.
    history = await b.push(topic, "history", {"before": 4, "limit": 2})
    assert seqs(history["response"]["messages"]) == [2, 3]

    # b's connection is cut; a keeps talking; b comes back and its channel rejoins with
    # after_seq = the last seq it saw (the join params function is re-evaluated).
    broadcasts = b.events_since(0, event="message", topic=topic, name="new_message")
    seen_by_b = [event["payload"] for event in broadcasts]
    await b.set_var(topic, max(seqs(seen_by_b)))
    await b.disconnect()
    missed = [await post(a, topic, f"while away {i}") for i in range(3)]
    mark = phoenixjs.mark()
    await b.reconnect()
    rejoined = await b.expect(event="join", topic=topic, since=mark)
    assert rejoined["status"] == "ok", rejoined
    assert rejoined["response"]["messages"] == missed
    assert rejoined["response"]["more"] is False
    after = await post(a, topic, "welcome back")
    await b.expect(lambda e: e["payload"] == after, event="message", topic=topic, since=mark)
    seen_by_b += rejoined["response"]["messages"]
    seen_by_b += [
        event["payload"]
        for event in b.events_since(mark, event="message", topic=topic, name="new_message")
    ]
    # Every message exactly once, in order.
    assert seqs(seen_by_b) == list(range(1, after["seq"] + 1))

    # The event ends: archived, read-only, history kept.
    world.clock.set(EVENT_END)
    for client in (a, b):
        status = await client.expect(
            lambda e: e["payload"] == {"status": "archived"},
            event="message",
            topic=topic,
            name="room_status",
        )
        assert status
    late = await a.push(topic, "new_message", {"content": "still here?"})
    assert (late["status"], late["response"]) == ("error", {"reason": "room not active"})
    body = await world.api.get(
        f"/api/events/{event['id']}/messages?limit=100", token=bob.token, expected=200
    )
    assert seqs(body["data"]) == list(range(1, after["seq"] + 1))


async def test_the_original_join_with_an_assigned_ticket(
    world: World, phoenixjs: PhoenixJS
) -> None:
    """The original design's client, as written: the reservation system assigns the ticket
    over REST, the app joins with ``socket.channel("event:<id>", {})`` and sends a message.
    A second ticket of the same holder is a spare that a friend claims with its number."""
    event = await world.event(name="Concert")
    topic = f"event:{event['id']}"
    await world.move_to(OPENS)
    alice, friend = await world.api.sign_up("alice"), await world.api.sign_up("friend")
    bought = [await world.api.create_ticket(event["id"]) for _ in range(2)]
    for ticket in bought:
        await world.api.assign(ticket["id"], alice.id)

    a = await phoenixjs.connect(world.url, version="1.8", params={"token": alice.token})
    joined = await a.join(topic, {})
    assert joined["status"] == "ok", joined
    sent = await post(a, topic, "Hello, World!")
    assert (sent["username"], sent["seq"]) == ("alice", 1)
    used = await world.api.rows(
        "SELECT ticket_number FROM tickets WHERE user_id = $1 AND used_at IS NOT NULL", alice.id
    )
    assert len(used) == 1  # one ticket marked used; the other one is still unused

    spare = next(t for t in bought if t["ticket_number"] != used[0]["ticket_number"])
    f = await phoenixjs.connect(world.url, version="1.7", params={"token": friend.token})
    joined = await f.join(topic, {"ticket_number": spare["ticket_number"]})
    assert joined["status"] == "ok", joined
    assert [m["content"] for m in joined["response"]["messages"]] == ["Hello, World!"]
    [row] = await world.api.rows("SELECT user_id, used_at FROM tickets WHERE id = $1", spare["id"])
    assert row["user_id"] == friend.id and row["used_at"] is not None
