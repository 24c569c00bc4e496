"""Posting, idempotent retries, limits, typing, history and catching up after a reconnect."""

from __future__ import annotations

from datetime import timedelta

from tests.server.chat_support import OPENS, World, stepping_clock, world

__all__ = ["stepping_clock", "world"]


async def stored(world: World) -> int:
    return int(await world.api.value("SELECT count(*) FROM messages"))


async def test_posts_only_while_active_stored_before_reply_then_broadcast(world: World) -> None:
    event = await world.event()
    alice, bob = await world.api.sign_up(), await world.api.sign_up()
    topic = f"event:{event['id']}"
    async with world.socket(alice) as a, world.socket(bob) as b:
        await world.member(a, event["id"], alice)
        await world.member(b, event["id"], bob)
        ref = await a.push(topic, "new_message", {"content": "too early"})
        await a.assert_reply(ref, "error", {"reason": "room not active"})
        assert await stored(world) == 0

        await world.move_to(OPENS)
        await b.assert_push(topic, "room_status", {"status": "active"})
        ref = await a.push(topic, "new_message", {"content": "<b>hi</b> & bye"})
        reply = await a.assert_reply(ref, "ok")
        message = reply.response["message"]
        assert message["content"] == "<b>hi</b> & bye"  # data, never interpreted
        assert (message["seq"], message["user_id"], message["username"]) == (
            1,
            alice.id,
            alice.username,
        )
        assert message["content_type"] == "text"
        assert set(message) == {
            "id", "chat_room_id", "user_id", "username", "content", "content_type", "seq",
            "inserted_at", "author_role", "hidden",
        }  # fmt: skip
        assert (message["author_role"], message["hidden"]) == ("member", False)
        assert (await b.assert_push(topic, "new_message")).payload == message
        assert (await a.assert_push(topic, "new_message")).payload == message
        ref = await b.push(topic, "new_message", {"content": "second"})
        assert (await b.assert_reply(ref, "ok")).response["message"]["seq"] == 2

        # The REST history serves what the channel stored.
        body = await world.api.get(
            f"/api/events/{event['id']}/messages", token=await world.sign_in(bob), expected=200
        )
        assert [m["content"] for m in body["data"]] == ["<b>hi</b> & bye", "second"]
        assert body["data"][0] == message


async def test_a_retried_client_id_posts_once(world: World) -> None:
    async with world.open_room(2) as (topic, (a, b)):
        payload = {"content": "once", "client_id": "c-1"}
        first = await a.assert_reply(await a.push(topic, "new_message", payload), "ok")
        again = await a.assert_reply(await a.push(topic, "new_message", payload), "ok")
        assert again.response == first.response
        await b.assert_push(topic, "new_message")
        await b.refute_push(topic, "new_message")
        # Another user may use the same client_id: ids are per user.
        other = await b.assert_reply(await b.push(topic, "new_message", payload), "ok")
        assert other.response["message"]["seq"] == 2
    assert await stored(world) == 2


async def test_invalid_messages_are_refused_and_not_stored(world: World) -> None:
    async with world.open_room(1) as (topic, (a,)):
        cases = [
            ({"content": ""}, "empty message"),
            ({"content": "   \n"}, "empty message"),
            ({"content": 42}, "invalid content"),
            ({}, "invalid content"),
            ({"content": "x" * 4001}, "message too long"),
            ({"content": "a\x00b"}, "invalid content"),
            ({"content": "hi", "content_type": "html"}, "invalid content_type"),
            ({"content": "hi", "client_id": 7}, "invalid client_id"),
            ({"content": "hi", "client_id": "x" * 101}, "invalid client_id"),
        ]
        for payload, reason in cases:
            await a.assert_reply(
                await a.push(topic, "new_message", payload), "error", {"reason": reason}
            )
        await a.assert_reply(
            await a.push(topic, "nonsense", {}), "error", {"reason": "unknown event"}
        )
        ok = await a.assert_reply(await a.push(topic, "new_message", {"content": "x" * 4000}))
        assert ok.status == "ok"
    assert await stored(world) == 1


async def test_a_flood_is_refused_without_slowing_the_others(world: World) -> None:
    async with world.open_room(2) as (topic, (a, b)):
        refs = [await a.push(topic, "new_message", {"content": f"m{i}"}) for i in range(15)]
        replies = [await a.assert_reply(ref) for ref in refs]
        assert [r.status for r in replies] == ["ok"] * 10 + ["error"] * 5
        assert replies[-1].response == {"reason": "too many messages"}
        # Bob's own budget is untouched.
        assert (
            await b.assert_reply(await b.push(topic, "new_message", {"content": "hi"}))
        ).status == "ok"
        # Time refills the bucket (5 a second).
        world.clock.advance(timedelta(seconds=1))
        refs = [await a.push(topic, "new_message", {"content": "again"}) for _ in range(6)]
        statuses = [(await a.assert_reply(ref)).status for ref in refs]
        assert statuses == ["ok"] * 5 + ["error"]
    assert await stored(world) == 16


async def test_typing_goes_to_the_others_throttled(world: World) -> None:
    event = await world.event()
    alice, bob = await world.api.sign_up(), await world.api.sign_up()
    topic = f"event:{event['id']}"
    async with world.socket(alice) as a, world.socket(bob) as b:
        await world.member(a, event["id"], alice)
        await world.member(b, event["id"], bob)
        expected = {"user_id": alice.id, "username": alice.username, "typing": True}
        for _ in range(3):
            await a.assert_reply(await a.push(topic, "typing", {"typing": True}), "ok")
        await b.assert_push(topic, "typing", expected)
        await b.refute_push(topic, "typing")  # throttled: one per second per state
        await a.refute_push(topic, "typing")  # never to the typist
        await a.assert_reply(await a.push(topic, "typing", {"typing": False}), "ok")
        await b.assert_push(topic, "typing", {**expected, "typing": False})
        world.clock.advance(timedelta(seconds=1))
        await a.assert_reply(await a.push(topic, "typing", {"typing": True}), "ok")
        await b.assert_push(topic, "typing", expected)
        await a.assert_reply(
            await a.push(topic, "typing", {"typing": "yes"}), "error", {"reason": "invalid typing"}
        )
    assert await stored(world) == 0


async def test_history_and_catching_up_after_a_reconnect(world: World) -> None:
    event = await world.event()
    alice = await world.api.sign_up()
    topic = f"event:{event['id']}"
    await world.move_to(OPENS)
    async with world.socket(alice) as a:
        await world.member(a, event["id"], alice)
        for i in range(1, 8):
            await a.assert_reply(await a.push(topic, "new_message", {"content": f"m{i}"}), "ok")
            world.clock.advance(timedelta(seconds=1))  # stay under the rate limit
        reply = await a.assert_reply(await a.push(topic, "history", {"before": 6, "limit": 3}))
        assert [m["seq"] for m in reply.response["messages"]] == [3, 4, 5]
        reply = await a.assert_reply(await a.push(topic, "history", {}))
        assert [m["seq"] for m in reply.response["messages"]] == list(range(1, 8))
        await a.assert_reply(
            await a.push(topic, "history", {"before": "x"}),
            "error",
            {"reason": "invalid history request"},
        )
    async with world.socket(alice) as a:
        reply = await a.join(topic, {"after_seq": 4})
        assert [m["seq"] for m in reply.response["messages"]] == [5, 6, 7]
        assert reply.response["more"] is False
    async with world.socket(alice) as a:
        reply = await a.join(topic, {"after_seq": 7})
        assert reply.response["messages"] == []
    async with world.socket(alice) as a:
        reply = await a.join(topic, {})
        assert [m["seq"] for m in reply.response["messages"]] == list(range(1, 8))
        assert reply.response["room"] == {
            "id": event["chat_room"]["id"],
            "status": "active",
            "last_seq": 7,
            "slow_mode_seconds": 0,
        }
        assert (reply.response["online"], reply.response["muted_until"]) == (1, None)
        assert reply.response["hidden_seqs"] == []
